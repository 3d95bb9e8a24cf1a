"""Everything the app reads from its environment, in one place (see the README's table).

MGX hands these to the app's containers; none is required to start: without the OAuth
variables the app serves its pages and `api/healthz`, and `auth/login` says login is not set up.
"""
import hashlib
import os
import secrets
from dataclasses import dataclass

APP_SLUG = "__APP_SLUG__"
APP_NAME = "__APP_NAME__"


@dataclass(frozen=True)
class Settings:
    base_path: str = ""
    app_slug: str = APP_SLUG
    apps_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    issuer: str = ""
    authorize_url: str = ""
    token_url: str = ""
    jwks_url: str = ""
    logout_url: str = ""
    session_secret: str = ""
    mongodb_url: str = ""
    mongodb_db: str = ""
    otlp_endpoint: str = ""
    service_name: str = APP_SLUG

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env
        get = lambda name: (env.get(name) or "").strip()  # noqa: E731
        slug = get("MGX_APP_SLUG") or APP_SLUG
        return cls(
            base_path=get("MGX_BASE_PATH").rstrip("/"),
            app_slug=slug,
            apps_url=get("MGX_APPS_URL").rstrip("/"),
            client_id=get("MGX_OAUTH_CLIENT_ID"),
            client_secret=get("MGX_OAUTH_CLIENT_SECRET"),
            issuer=get("MGX_OAUTH_ISSUER"),
            authorize_url=get("MGX_OAUTH_AUTHORIZE_URL"),
            token_url=get("MGX_OAUTH_TOKEN_URL"),
            jwks_url=get("MGX_OAUTH_JWKS_URL"),
            logout_url=get("MGX_OAUTH_LOGOUT_URL"),
            session_secret=get("MGX_SESSION_SECRET"),
            mongodb_url=get("MONGODB_URL"),
            mongodb_db=get("MONGODB_DB") or f"app_{slug.replace('-', '_')}",
            otlp_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            service_name=get("OTEL_SERVICE_NAME") or slug,
        )

    @property
    def oauth_configured(self) -> bool:
        return all([self.client_id, self.client_secret, self.issuer, self.authorize_url, self.token_url, self.jwks_url])

    @property
    def cookie_path(self) -> str:
        return self.base_path or "/"

    def signing_key(self) -> str:
        if self.session_secret:
            return self.session_secret
        if self.client_secret:
            # Stable across restarts and replicas, and unknown to anyone without the secret.
            return hashlib.sha256(f"mgx-app-session:{self.client_secret}".encode()).hexdigest()
        return _PROCESS_KEY


# Nothing to derive a key from (login is not configured then): cookies last one process.
_PROCESS_KEY = secrets.token_hex(32)
