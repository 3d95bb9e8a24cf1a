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
from django.http import Http404, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError


class ApiError(Exception):
    """An answer other than success; the message is safe to show."""

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request", fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.message, self.status, self.code, self.fields, self.headers = message, status, code, fields or {}, headers or {}


def error_response(*, status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


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
    return error_response(status=exc.status_code, code=CODES.get(exc.status_code, "error"), message=str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(status=404, code="not_found", message="Not found.")


@api.exception_handler(PermissionDenied)
def _denied(request, exc):
    return error_response(status=403, code="forbidden", message="You may not do that.")


def json_errors(view):
    """Hand-written API views (until they move onto `api`) answer in JSON when a selector raises
    Http404 or PermissionDenied."""
    from functools import wraps

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return JsonResponse({"error": "Not found."}, status=404)
        except PermissionDenied:
            return JsonResponse({"error": "You may not do that."}, status=403)

    return wrapper


def urls():
    """The API's URL patterns, with every app's router mounted (imported here, not at module
    import, so apps may import `ApiError` from this module without a cycle)."""
    for router in _routers():
        if router not in _MOUNTED:
            api.add_router("", router)
            _MOUNTED.add(router)
    return api.urls


_MOUNTED: set = set()


def _routers() -> list:
    """Each app's `router` (a ninja Router in its api.py). Add one line per app."""
    from agents.api import router as agents_router

    return [agents_router]
