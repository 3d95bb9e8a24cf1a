"""The floor for bench/load.py's file reads: the least a Django request served by Daphne costs on
this machine. One Django view with no middleware, no database and no session answers the same
URL as MGX's file read (`/api/workspaces/<slug>/files?path=...`) with a body of the same shape,
through MGX's own request handler (core.asgi_handler.PooledThreadASGIHandler), under Daphne as
MGX runs it. What MGX's read costs above this is MGX's own work (auth, middleware, the API, the
file); the floor itself is Django and Daphne on this CPU.

Run by load.py: DJANGO_SETTINGS_MODULE=floor_site daphne -b 127.0.0.1 -p PORT floor_site:application
(with bench/ and the project root on PYTHONPATH). It is a settings module, a URL conf and the
ASGI application in one file.
"""
import os

SECRET_KEY = "bench-floor-" + "x" * 40  # signs nothing: no sessions, no cookies
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "floor_site"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict = {}
USE_TZ = True

from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

CONTENT = "x" * 700  # about the size of the files load.py reads


def file_read(request, slug):
    name = request.GET.get("path", "")
    return JsonResponse({"path": name, "size": len(CONTENT), "version": "0" * 40, "binary": False,
                         "content": CONTENT})


urlpatterns = [path("api/workspaces/<slug:slug>/files", file_read)]

if os.environ.get("DJANGO_SETTINGS_MODULE") == "floor_site":
    import django

    django.setup(set_prefix=False)
    from core.asgi_handler import PooledThreadASGIHandler

    application = PooledThreadASGIHandler()
