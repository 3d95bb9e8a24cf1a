"""MGX's JSON API: one django-ninja `NinjaAPI` under `/api/`, typed request and response schemas,
the OpenAPI document at `/api/openapi.json` and interactive docs at `/api/docs`.

Why django-ninja: it reads Pydantic type hints (already MGX's dependency through LangGraph), fits
Django 5.2 and plain function views, and generates the OpenAPI document from the same schemas
that validate requests; DRF + drf-spectacular would add serializers as a second schema language.

This module is wiring only: the error shape, `ApiError` and the translator live in `core.api`;
routers live in each app's `api.py` and are mounted below. Auth
(`accounts.authentication.ApiAuth`): a bearer token from MGX's provider, or the browser session
with CSRF and Origin checks on every state change.
"""
from __future__ import annotations

from ninja import NinjaAPI

from accounts.api import router as accounts
from accounts.authentication import ApiAuth
from agents.api import router as agents
from core.api import install_error_handlers
from databases.api import router as databases
from deployments.api import router as deployments
from deployments.api import sandbox_router as sandbox
from deployments.prod_api import router as production
from studio.api import router as sessions
from workspaces.api import router as workspaces

api = NinjaAPI(
    title="MGX API",
    auth=ApiAuth(),
    version="1.0",
    description="Sessions (apps), workspaces, dev containers and the agent team. "
                "Authenticate with `Authorization: Bearer <token>` from MGX's OAuth2 provider.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)

# The order is the order of the tags in /api/docs.
for router in (
    accounts,      # /api/me
    sessions,      # /api/sessions
    workspaces,    # /api/workspaces/{slug}/entries|files
    deployments,   # /api/apps/{slug}/dev, dev/start|status|stop, exec
    production,    # /api/apps/{slug}/prod/build|deploy|status|stop|releases|env
    sandbox,       # /api/sandbox/exec|destroy|destroy_all (seed 002)
    agents,        # /api/apps/{slug}/agent/generate|tasks|events|runs (the team over HTTP)
    databases,     # /api/apps/{slug}/db/collections/… (the app's own MongoDB database)
):
    api.add_router("", router)


def urls():
    return api.urls
