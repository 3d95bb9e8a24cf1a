"""The one hash MGX keeps of a bearer token instead of the token itself (agent run tokens, and
the checksum DOT stores beside each access token, which MGX looks tokens up by), and the one
way MGX derives a per-app secret from its secret key."""
from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex: the same function DOT uses for `token_checksum`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def derived_secret(purpose: str, subject: str) -> str:
    """A secret that survives restarts without being stored: HMAC-SHA256 of MGX's secret key over
    `<purpose>:<subject>`, hex. One subject's value tells nothing about another's, nor about the key."""
    return hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{subject}".encode(), hashlib.sha256).hexdigest()
