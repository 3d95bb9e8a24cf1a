"""The one hash MGX keeps of a bearer token instead of the token itself (agent run tokens, and
the checksum DOT stores beside each access token, which MGX looks tokens up by)."""
from __future__ import annotations

import hashlib


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex: the same function DOT uses for `token_checksum`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
