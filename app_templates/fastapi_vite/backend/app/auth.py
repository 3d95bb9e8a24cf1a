"""Login with MGX, under the base path: auth/login, auth/callback, auth/password, auth/logout.

See the README ("How login works"). Every failure ends on a page that says what went wrong;
nothing here lets an exception escape as a traceback.
"""
import logging

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from . import db, oidc, pages, sessions
from .config import Settings
from .oidc import LoginError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth")

NOT_CONFIGURED = "Login with MGX is not configured for this app."
STALE_LOGIN = "This login link is not valid any more. Start again."


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def safe_next(settings: Settings, target: str | None) -> str:
    """Where to land after the login: only a page of this app (no other site, no auth route)."""
    base = settings.base_path
    default = f"{base}/account"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if base and target != base and not target.startswith(base + "/"):
        return default
    if target.startswith(f"{base}/auth/"):
        return default
    return target


def redirect_uri(settings: Settings, request: Request) -> str:
    origin = settings.apps_url or f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return f"{origin}{settings.base_path}/auth/callback"


def _log_in(settings: Settings, claims: dict, target: str) -> RedirectResponse:
    user = oidc.user_from_claims(claims)
    try:
        db.upsert_user(settings, **user)
    except db.DatabaseUnavailable:
        raise LoginError("The app's database is not reachable, so the login could not be recorded. Try again in a moment.", 503)
    log.info("login: %s (%s)", user["username"], user["sub"])
    response = RedirectResponse(target, status_code=302)
    sessions.set_cookie(response, settings, sessions.SESSION_COOKIE,
                        sessions.dump(settings, sessions.SESSION_COOKIE, user), sessions.SESSION_MAX_AGE)
    return response


@router.get("/login")
def login(request: Request, next: str | None = None):
    settings = _settings(request)
    if not settings.oauth_configured:
        return pages.page("Login unavailable", f"<p>{NOT_CONFIGURED}</p>", 503)
    transaction = {**oidc.new_transaction(), "next": safe_next(settings, next)}
    response = RedirectResponse(oidc.authorize_url(settings, redirect_uri=redirect_uri(settings, request), transaction=transaction), 302)
    sessions.set_cookie(response, settings, sessions.LOGIN_COOKIE,
                        sessions.dump(settings, sessions.LOGIN_COOKIE, transaction), sessions.LOGIN_MAX_AGE)
    return response


@router.get("/callback")
def callback(request: Request, state: str | None = None, code: str | None = None,
             error: str | None = None, error_description: str | None = None):
    settings = _settings(request)
    if not settings.oauth_configured:
        return pages.page("Login unavailable", f"<p>{NOT_CONFIGURED}</p>", 503)
    transaction = sessions.load(settings, sessions.LOGIN_COOKIE, request.cookies.get(sessions.LOGIN_COOKIE), sessions.LOGIN_MAX_AGE)
    if not transaction or not state or state != transaction.get("state"):
        return pages.error_page(settings, STALE_LOGIN, 400)
    try:
        if error:
            raise LoginError(f"MGX refused the login: {error_description or error}", 400)
        if not code:
            raise LoginError(STALE_LOGIN, 400)
        tokens = oidc.token_request(settings, {"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": redirect_uri(settings, request),
                                               "code_verifier": transaction["verifier"]})
        claims = oidc.verify_id_token(settings, request.app.state.jwks, tokens["id_token"], nonce=transaction["nonce"])
        response = _log_in(settings, claims, safe_next(settings, transaction.get("next")))
    except LoginError as exc:
        log.warning("login refused: %s", exc.message)
        response = pages.error_page(settings, exc.message, exc.status)
    # One use only, whatever happened: a replayed callback URL finds no transaction.
    sessions.clear_cookie(response, settings, sessions.LOGIN_COOKIE)
    return response


@router.get("/password")
def password_page(request: Request):
    return pages.password_form(_settings(request))


@router.post("/password")
def password(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")):
    settings = _settings(request)
    if not settings.oauth_configured:
        return pages.page("Login unavailable", f"<p>{NOT_CONFIGURED}</p>", 503)
    if not username or not password:
        return pages.password_form(settings, message="Enter your username and password.", username=username, status=400)
    try:
        tokens = oidc.token_request(settings, {"grant_type": "password", "username": username, "password": password,
                                               "scope": oidc.SCOPE})
        claims = oidc.verify_id_token(settings, request.app.state.jwks, tokens["id_token"], nonce=None)
        return _log_in(settings, claims, safe_next(settings, next))
    except LoginError as exc:
        log.warning("password login refused for %s: %s", username, exc.message)
        if exc.status == 400 and exc.message.startswith("MGX refused the login: "):
            message = exc.message.removeprefix("MGX refused the login: ")
            return pages.password_form(settings, message=message, username=username, status=400)
        return pages.error_page(settings, exc.message, exc.status)


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request):
    settings = _settings(request)
    response = RedirectResponse(f"{settings.base_path}/", status_code=302)
    sessions.clear_cookie(response, settings, sessions.SESSION_COOKIE)
    return response
