"""The app's own signed cookies: the login session (`mgx_app_session`) and the short-lived
login transaction (state, nonce, PKCE verifier, next page) kept between `auth/login` and
`auth/callback`. Both are HMAC-SHA256 signed with MGX_SESSION_SECRET and HttpOnly; a cookie that
does not verify, or has expired, is treated as absent."""
import hashlib

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .config import Settings

SESSION_COOKIE = "mgx_app_session"
SESSION_MAX_AGE = 8 * 3600
LOGIN_COOKIE = "mgx_app_login"
LOGIN_MAX_AGE = 10 * 60


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    # A distinct salt per purpose: a login-transaction cookie can never pass as a session.
    return URLSafeTimedSerializer(settings.signing_key(), salt=purpose, signer_kwargs={"digest_method": hashlib.sha256})


def dump(settings: Settings, purpose: str, data: dict) -> str:
    return _serializer(settings, purpose).dumps(data)


def load(settings: Settings, purpose: str, token: str | None, max_age: int) -> dict | None:
    if not token:
        return None
    try:
        data = _serializer(settings, purpose).loads(token, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return None
    return data if isinstance(data, dict) else None


def set_cookie(response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=settings.cookie_path, httponly=True, samesite="lax",
                        secure=settings.apps_url.startswith("https://"))


def clear_cookie(response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, path=settings.cookie_path, httponly=True, samesite="lax")


def current_user(request) -> dict | None:
    settings = request.app.state.settings
    data = load(settings, SESSION_COOKIE, request.cookies.get(SESSION_COOKIE), SESSION_MAX_AGE)
    if not data or not data.get("sub"):
        return None
    return {"sub": data["sub"], "username": data.get("username", ""), "email": data.get("email", "")}
