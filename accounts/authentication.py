"""Who is calling the JSON API (`/api/...`)."""
from dataclasses import dataclass

from django.middleware.csrf import CsrfViewMiddleware
from ninja.security.base import AuthBase

from core.api import ApiError

from . import selectors
from .tokens import TokenRejected, access_token_verify

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


@dataclass(frozen=True)
class Refusal:
    """Why a bearer token may not act on MGX's API, as the API answers it."""

    message: str
    status: int = 401
    error: str = "invalid_token"  # RFC 6750's error code, for WWW-Authenticate

    @property
    def www_authenticate(self) -> str:
        escaped = self.message.replace('"', "'")
        return f'Bearer realm="mgx", error="{self.error}", error_description="{escaped}"'


def _csrf_failed(request) -> bool:
    # ninja's views are csrf_exempt so bearer calls need no cookie; browser sessions still get
    # the same check the middleware would have made.
    check = CsrfViewMiddleware(lambda r: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is not None


def _bearer_verify(raw: str, *, method: str):
    """(VerifiedToken, None) for a token that may act on MGX's API, else (None, Refusal)."""
    try:
        verified = access_token_verify(raw)
    except TokenRejected as exc:
        return None, Refusal(str(exc))
    user = verified.user
    if user is None:
        return None, Refusal("This token belongs to a client, not to a person.", status=403, error="insufficient_scope")
    if selectors.client_app(application=verified.access_token.application) is not None:
        return None, Refusal("This token was issued to an app's client; it is not valid for MGX's API.")
    if not selectors.user_may_use_client(user=user, application=verified.access_token.application):
        return None, Refusal("This account may not use MGX's API.")
    needed = "read" if method in SAFE_METHODS else "write"
    if needed not in verified.scopes:
        return None, Refusal(f"This token lacks the “{needed}” scope.", status=403, error="insufficient_scope")
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


class ApiAuth(AuthBase):
    """django-ninja's auth for every `/api/` operation (`mgx_site.api`). Two ways in:

    - `Authorization: Bearer <JWT>` from MGX's provider: signature, `iss` and `exp` are checked
      locally, then that the token was not revoked. Only tokens of MGX's own and external
      clients count: a token issued to a generated app's client is for that app's backend and
      never acts on MGX (so an app cannot replay its users' tokens against MGX). GET/HEAD need
      the `read` scope, other methods `write`. No CSRF check: nothing ambient authenticates.
    - the browser session, with the CSRF and Origin checks on every state change.

    The user is on `request.user`; a bearer call also gets `request.oauth_token` (VerifiedToken).
    A refused bearer token or a failed CSRF check raises `ApiError` with the reason (401/403);
    nobody at all makes ninja answer 401."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"

    def __call__(self, request):
        raw = _bearer(request)
        if raw is not None:
            verified, refused = _bearer_verify(raw, method=request.method)
            if refused is not None:
                code = "forbidden" if refused.status == 403 else "unauthorized"
                raise ApiError(refused.message, status=refused.status, code=code,
                               headers={"WWW-Authenticate": refused.www_authenticate})
            request.user = verified.user
            request.oauth_token = verified
            return verified.user
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and _csrf_failed(request):
            raise ApiError("CSRF check failed; reload the page and try again.", status=403, code="csrf_failed")
        return user
