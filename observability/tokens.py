"""Ingest tokens from the secret key alone (no model, so mgx_site.otel can use it before Django's
apps are loaded). See observability.models for why tokens are derived rather than stored."""
from core.tokens import derived_secret

MGX_APP = "_mgx"  # never a slug (slugs have no underscore): MGX's own spans and logs


def derive(slug: str, salt: str) -> str:
    return "mgxi_" + derived_secret("otlp-ingest", f"{slug}:{salt}" if salt else slug)


def mgx_ingest_token() -> str:
    """MGX's own processes' token when they export to MGX's receiver."""
    return derive(MGX_APP, "")
