"""The JSON API's shared pieces: `ApiError`, the one error shape and its schemas, and the one
translator from exceptions (domain errors included) to answers. Apps' routers import from here;
the NinjaAPI itself is site wiring (mgx_site.api).

Errors have one shape everywhere: `{"error": {"code": "...", "message": "...", "fields": {...}}}`
with the right status (422 for a body or query that does not fit its schema, naming the fields).
Views raise `ApiError` or let a domain error (`core.errors.MgxError`) through; they never build
error JSON."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from .errors import MgxError, http_status


class ApiError(Exception):
    """An answer other than success that only the API gives (a missing scope, a bad header);
    the message is safe to show. Domain refusals are `core.errors.MgxError`s instead."""

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
         409: "conflict", 413: "too_large", 422: "invalid", 429: "too_many_requests", 503: "unavailable",
         507: "full"}


def _fields(errors: list[dict]) -> dict:
    """Pydantic's error list as {"field.path": ["message", ...]}, without ninja's wrapper names."""
    out: dict[str, list[str]] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path", "form", "payload")]
        out.setdefault(".".join(loc) or "body", []).append(err.get("msg", "invalid"))
    return out


def _api_error(request, exc: ApiError):
    return error_response(status=exc.status, code=exc.code, message=exc.message, fields=exc.fields, headers=exc.headers)


def _domain_error(request, exc: MgxError):
    status = http_status(exc)
    extra = getattr(exc, "extra", None)
    return error_response(status=status, code=CODES.get(status, "bad_request"), message=str(exc),
                          fields={exc.field: [str(exc)]} if exc.field else {}, extra=extra() if extra else None)


def _invalid(request, exc: NinjaValidationError):
    return error_response(status=422, code="invalid", message="The request does not fit its schema.",
                          fields=_fields(exc.errors))


def _unauthenticated(request, exc):
    return error_response(status=401, code="unauthorized", message="Authentication required.")


def _http_error(request, exc: HttpError):
    message = str(exc)
    if message.startswith("Cannot parse request body"):  # ninja's words for a body that is not JSON
        message = "The request body is not valid JSON."
    return error_response(status=exc.status_code, code=CODES.get(exc.status_code, "error"), message=message)


def _not_found(request, exc):
    return error_response(status=404, code="not_found", message="Not found.")


def _denied(request, exc):
    return error_response(status=403, code="forbidden", message="You may not do that.")


def _model_invalid(request, exc: DjangoValidationError):
    # A service's own checks (a reserved slug, a taken name): 400 as before the typed API.
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    message = "; ".join(exc.messages) if not fields else "The request was not accepted."
    return error_response(status=400, code="bad_request", message=message, fields=fields)


def install_error_handlers(api) -> None:
    """Register the one translator on a NinjaAPI (mgx_site.api does, once)."""
    for exc_class, handler in ((ApiError, _api_error), (MgxError, _domain_error), (NinjaValidationError, _invalid),
                               (AuthenticationError, _unauthenticated), (HttpError, _http_error),
                               (Http404, _not_found), (PermissionDenied, _denied),
                               (DjangoValidationError, _model_invalid)):
        api.add_exception_handler(exc_class, handler)
