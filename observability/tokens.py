"""Ingest tokens from the secret key alone (no model, so mgx_site.otel can use it before Django's
apps are loaded). See observability.models for why tokens are derived rather than stored.

A token names its app: `mgxi_<slug>.<secret>`. The receiver reads the app from the token and
checks the token before it looks at the body (a request without its app's token is never
parsed). Tokens made before they named their app (`mgxi_<secret>`, the same secret) still work
with an `X-MGX-App` header, which every container MGX starts sends; they go when the app's
containers next start.
"""
from core.tokens import derived_secret

MGX_APP = "_mgx"  # never a slug (slugs have no underscore): MGX's own spans and logs
PREFIX = "mgxi_"


def _secret(slug: str, salt: str) -> str:
    return derived_secret("otlp-ingest", f"{slug}:{salt}" if salt else slug)


def derive(slug: str, salt: str) -> str:
    return f"{PREFIX}{slug}.{_secret(slug, salt)}"


def derive_unnamed(slug: str, salt: str) -> str:
    """The token as it was made before tokens named their app."""
    return PREFIX + _secret(slug, salt)


def app_of(token: str) -> str:
    """The app a token names ('' when it names none)."""
    if not token.startswith(PREFIX):
        return ""
    slug, dot, _secret_part = token[len(PREFIX):].rpartition(".")
    return slug if dot else ""


def mgx_ingest_token() -> str:
    """MGX's own processes' token when they export to MGX's receiver."""
    return derive(MGX_APP, "")
