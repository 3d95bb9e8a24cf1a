"""MGX's JSON API: one django-ninja `NinjaAPI` under `/api/`, typed request and response schemas,
the OpenAPI document at `/api/openapi.json` and interactive docs at `/api/docs`.

Why django-ninja: it reads Pydantic type hints (already MGX's dependency through LangGraph), fits
Django 5.2 and plain function views, and generates the OpenAPI document from the same schemas
that validate requests; DRF + drf-spectacular would add serializers as a second schema language.

Errors have one shape everywhere: `{"error": {"code": "...", "message": "...", "fields": {...}}}`
with the right status (422 for a body or query that does not fit its schema, naming the fields).
Views raise `ApiError` (or a domain error translated below); they never build error JSON.

Auth (`accounts.authentication.ApiAuth`): a bearer token from MGX's provider, or the browser
session with CSRF and Origin checks on every state change.

Routers live in each app's `api.py` and are mounted in `urls()` below.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError


class ApiError(Exception):
    """An answer other than success; the message is safe to show."""

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request", fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.message, self.status, self.code, self.fields, self.headers = message, status, code, fields or {}, headers or {}


def error_response(*, status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None, extra: dict | None = None) -> JsonResponse:
    """`extra`: keys beside "error" that one kind of refusal documents (a conflict's `current`)."""
    body = {"error": {"code": code, "message": message, "fields": fields or {}}, **(extra or {})}
    response = JsonResponse(body, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}


class ErrorOut(Schema):
    """Every answer other than success: `{"error": {"code", "message", "fields"}}`."""

    error: ErrorBody


def errors(*statuses: int) -> dict:
    """The error answers an operation documents (merge into its `response=`): 401 and 403 (no
    or a refused credential, a missing scope, a failed CSRF check) always, plus `statuses`."""
    return {status: ErrorOut for status in sorted({401, 403, *statuses})}


CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 422: "invalid", 429: "too_many_requests", 503: "unavailable"}


def _fields(errors: list[dict]) -> dict:
    """Pydantic's error list as {"field.path": ["message", ...]}, without ninja's wrapper names."""
    out: dict[str, list[str]] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path", "form", "payload")]
        out.setdefault(".".join(loc) or "body", []).append(err.get("msg", "invalid"))
    return out


def _auth():
    from accounts.authentication import ApiAuth

    return ApiAuth()


api = NinjaAPI(
    title="MGX API",
    auth=_auth(),
    version="1.0",
    description="Sessions (apps), workspaces, dev containers and the agent team. "
                "Authenticate with `Authorization: Bearer <token>` from MGX's OAuth2 provider.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return error_response(status=exc.status, code=exc.code, message=exc.message, fields=exc.fields, headers=exc.headers)


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc: NinjaValidationError):
    return error_response(status=422, code="invalid", message="The request does not fit its schema.",
                          fields=_fields(exc.errors))


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(status=401, code="unauthorized", message="Authentication required.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    message = str(exc)
    if message.startswith("Cannot parse request body"):  # ninja's words for a body that is not JSON
        message = "The request body is not valid JSON."
    return error_response(status=exc.status_code, code=CODES.get(exc.status_code, "error"), message=message)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(status=404, code="not_found", message="Not found.")


@api.exception_handler(PermissionDenied)
def _denied(request, exc):
    return error_response(status=403, code="forbidden", message="You may not do that.")


@api.exception_handler(DjangoValidationError)
def _model_invalid(request, exc: DjangoValidationError):
    # A service's own checks (a reserved slug, a taken name): 400 as before the typed API.
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    message = "; ".join(exc.messages) if not fields else "The request was not accepted."
    return error_response(status=400, code="bad_request", message=message, fields=fields)


def _domain_errors() -> None:
    """The one place where the apps' domain errors become HTTP answers. Registered from `urls()`
    (not at import) because those modules import this one for `ApiError`."""
    from agents.services import AgentError
    from deployments.docker_client import DockerUnavailable
    from deployments.services import DevError
    from workspaces.fs import WorkspaceConflict, WorkspaceError

    def workspace_error(request, exc: WorkspaceError):
        # A conflict carries what is on disk now: the editor merges against it, a script retries
        # with its version.
        extra = {"current": exc.current.as_dict() if exc.current else None} if isinstance(exc, WorkspaceConflict) else None
        return error_response(status=exc.status, code=CODES.get(exc.status, "bad_request"), message=str(exc), extra=extra)

    def dev_error(request, exc: DevError):
        return error_response(status=exc.status, code=CODES.get(exc.status, "conflict"), message=str(exc))

    def docker_unavailable(request, exc: DockerUnavailable):
        # The engine's address is MGX's business, not the caller's (README: only admins see it).
        return error_response(status=503, code="unavailable",
                              message="The Docker engine does not answer; try again in a moment.")

    def agent_error(request, exc: AgentError):
        # The chat's "write a message first" (400) is a body that does not fit its schema.
        status = 422 if exc.status in (400, 422) else 409
        return error_response(status=status, code=CODES[status], message=str(exc),
                              fields={exc.field: [str(exc)]} if exc.field else {})

    api.add_exception_handler(WorkspaceError, workspace_error)
    api.add_exception_handler(AgentError, agent_error)
    api.add_exception_handler(DevError, dev_error)
    api.add_exception_handler(DockerUnavailable, docker_unavailable)


def urls():
    """The API's URL patterns, with every app's router mounted (imported here, not at module
    import, so apps may import `ApiError` from this module without a cycle)."""
    if not _MOUNTED:
        _domain_errors()
    for router in _routers():
        if router not in _MOUNTED:
            api.add_router("", router)
            _MOUNTED.add(router)
    return api.urls


_MOUNTED: set = set()


def _routers() -> list:
    """Each app's `router` (a ninja Router in its api.py). Add one line per app; the order is
    the order of the tags in /api/docs."""
    from accounts.api import router as accounts
    from agents.api import router as agents
    from deployments.api import router as deployments
    from deployments.api import sandbox_router as sandbox
    from sessions_app.api import router as sessions
    from workspaces.api import router as workspaces

    return [
        accounts,      # /api/me
        sessions,      # /api/sessions
        workspaces,    # /api/workspaces/{slug}/entries|files
        deployments,   # /api/apps/{slug}/dev, dev/start|status|stop, exec
        sandbox,       # /api/sandbox/exec|destroy|destroy_all (seed 002)
        agents,        # /api/apps/{slug}/agent/generate|tasks|events|runs (the team over HTTP)
    ]
