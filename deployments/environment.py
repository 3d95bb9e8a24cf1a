"""What an app's containers are told: the environment of the template contract
(app_templates/README.md), the same for dev and production apart from the base path.

`app_environment(app=, stage=)` is a service: before handing the app its OAuth client and its
database it makes sure both exist (the client's redirect URIs follow MGX_APPS_URL; the
database gets its `users` collection and unique index on `sub`). Secrets in the result (the
client secret, the session secret, the ingest token) go to the container only: never log it.
"""
from __future__ import annotations

from django.conf import settings

from accounts.selectors import app_oauth_env
from accounts.services import app_client_register
from containers.sandbox import CONTAINER_HOST
from core.tokens import derived_secret
from databases.provisioning import (
    app_database_ensure,
    app_mongo_url,
    apps_mongo_authenticates,
)
from observability.selectors import apps_otlp_endpoint
from observability.services import app_ingest_token

STAGES = ("dev", "prod")


def app_environment(*, app, stage: str) -> dict[str, str]:
    """The variables of the template contract for `app` at `stage` ("dev" or "prod")."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    app_client_register(app=app)
    database = app_database_ensure(app=app)
    internal_url = f"http://{CONTAINER_HOST}:{settings.MGX_INTERNAL_PORT}"
    env = {
        "MGX_BASE_PATH": f"/apps/{app.slug}/{stage}",
        "MGX_APP_SLUG": app.slug,
        "MGX_APPS_URL": settings.MGX_APPS_URL,
        "MGX_PUBLIC_URL": settings.MGX_PUBLIC_URL,
        **app_oauth_env(app=app, internal_url=internal_url),
        "MGX_OAUTH_DISCOVERY_URL": f"{internal_url}/oauth2/.well-known/openid-configuration",
        "MGX_SESSION_SECRET": derived_secret("app-session", app.slug),
        "MONGODB_URL": (app_mongo_url(slug=app.slug) if apps_mongo_authenticates()
                        else settings.MGX_APPS_MONGO_URL_FOR_APPS),
        "MONGODB_DB": database.name,
        "OTEL_SERVICE_NAME": app.slug,
    }
    # The app header names the app to MGX's receiver even if the app changes its service.name;
    # the stage header tells its dev server's traces from production's (the Traces tab's filter).
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = apps_otlp_endpoint()
    env["OTEL_EXPORTER_OTLP_HEADERS"] = (f"authorization=Bearer {app_ingest_token(app=app)},x-mgx-stage={stage},"
                                         f"x-mgx-app={app.slug}")
    return env
