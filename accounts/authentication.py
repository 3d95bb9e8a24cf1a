"""Who is calling the JSON API (`/api/...`)."""
import json
from functools import wraps

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security.base import AuthBase

from . import selectors
from .tokens import TokenRejected, access_token_verify

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _unauthorized(message: str, *, error: str = "invalid_token", status: int = 401) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    escaped = message.replace('"', "'")
    response["WWW-Authenticate"] = f'Bearer realm="mgx", error="{error}", error_description="{escaped}"'
    return response


def _csrf_failure(request) -> JsonResponse | None:
    # The view is csrf_exempt so bearer calls need no cookie; browser sessions still get the
    # same check the middleware would have made.
    check = CsrfViewMiddleware(lambda r: None)
    check.process_request(request)
    if check.process_view(request, None, (), {}) is not None:
        return JsonResponse({"error": "CSRF check failed; reload the page and try again."}, status=403)
    return None


def _bearer_verify(raw: str, *, method: str):
    """(VerifiedToken, None) for a token that may act on MGX's API, else (None, the refusal)."""
    try:
        verified = access_token_verify(raw)
    except TokenRejected as exc:
        return None, _unauthorized(str(exc))
    user = verified.user
    if user is None:
        return None, _unauthorized("This token belongs to a client, not to a person.", status=403, error="insufficient_scope")
    if selectors.client_app(application=verified.access_token.application) is not None:
        return None, _unauthorized("This token was issued to an app's client; it is not valid for MGX's API.")
    if not selectors.user_may_use_client(user=user, application=verified.access_token.application):
        return None, _unauthorized("This account may not use MGX's API.")
    needed = "read" if method in SAFE_METHODS else "write"
    if needed not in verified.scopes:
        return None, _unauthorized(f"This token lacks the “{needed}” scope.", status=403, error="insufficient_scope")
    return verified, None


def request_user(request):
    """Who is calling, by bearer token (as the API checks it) or session; None if nobody.

    For pages that answer everyone but tell more to some callers (`/healthz`): a token that
    the API would refuse counts as nobody rather than an error.
    """
    raw = _bearer(request)
    if raw is not None:
        verified, _refused = _bearer_verify(raw, method="GET")
        return verified.user if verified is not None else None
    return request.user if request.user.is_authenticated else None


def api_auth_required(view):
    """JSON 401 instead of a login redirect when nobody is authenticated.

    Two ways in:
    - `Authorization: Bearer <JWT>` from MGX's provider: signature, `iss` and `exp` are checked
      locally, then that the token was not revoked. Only tokens of MGX's own and external
      clients count: a token issued to a generated app's client is for that app's backend and
      never acts on MGX (so an app cannot replay its users' tokens against MGX). GET/HEAD need
      the `read` scope, other methods `write`. No CSRF check: nothing ambient authenticates.
    - the browser session, with the usual CSRF check.
    The user is on `request.user`; a bearer call also gets `request.oauth_token` (VerifiedToken).
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        raw = _bearer(request)
        if raw is not None:
            verified, refused = _bearer_verify(raw, method=request.method)
            if refused is not None:
                return refused
            request.user = verified.user
            request.oauth_token = verified
            return view(request, *args, **kwargs)

        if not request.user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=401)
        if request.method not in SAFE_METHODS:
            failed = _csrf_failure(request)
            if failed is not None:
                return failed
        return view(request, *args, **kwargs)

    wrapper.csrf_exempt = True
    return wrapper


class ApiAuth(AuthBase):
    """django-ninja's auth for every `/api/` operation (`mgx_site.api`): the same two ways in as
    `api_auth_required`. A refused bearer token or a failed CSRF check raises `ApiError` with the
    reason (401/403); nobody at all makes ninja answer 401."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"

    def __call__(self, request):
        from mgx_site.api import ApiError

        raw = _bearer(request)
        if raw is not None:
            verified, refused = _bearer_verify(raw, method=request.method)
            if refused is not None:
                message = json.loads(refused.content)["error"]
                code = "forbidden" if refused.status_code == 403 else "unauthorized"
                raise ApiError(message, status=refused.status_code, code=code,
                               headers={"WWW-Authenticate": refused["WWW-Authenticate"]})
            request.user = verified.user
            request.oauth_token = verified
            return verified.user
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and _csrf_failure(request) is not None:
            raise ApiError("CSRF check failed; reload the page and try again.", status=403, code="csrf_failed")
        return user
