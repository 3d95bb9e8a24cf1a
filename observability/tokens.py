"""Ingest tokens from the secret key alone (no model, so mgx_site.otel can use it before Django's
apps are loaded). See observability.models for why tokens are derived rather than stored."""
import hashlib
import hmac

from django.conf import settings

MGX_APP = "_mgx"  # never a slug (slugs have no underscore): MGX's own spans and logs


def derive(slug: str, salt: str) -> str:
    message = f"otlp-ingest:{slug}" + (f":{salt}" if salt else "")
    return "mgxi_" + hmac.new(settings.SECRET_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()


def mgx_ingest_token() -> str:
    """MGX's own processes' token when they export to MGX's receiver."""
    return derive(MGX_APP, "")
