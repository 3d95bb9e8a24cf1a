"""The apps gateway as its own ASGI process, on MGX_APPS_URL (MGX_APPS_HOST:MGX_APPS_PORT):

    uvicorn deployments.gateway.server:app --loop uvloop --http httptools

`./mgx up` starts it (mgx_site.cli.procs). It configures Django itself: the dev-preview check reads
MGX's sessions and tokens through the ORM; prod requests never touch the database.
"""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")
django.setup()

from .proxy import Gateway  # noqa: E402

app = Gateway()
