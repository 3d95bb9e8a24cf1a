"""Secrets MGX stores and must read back itself, never show: sealed with a key derived from MGX's
secret key (`core.tokens.derived_secret`), so a copy of the SQL database alone does not hold them
in the clear.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`, which MGX already has through
django-oauth-toolkit's jwcrypto. A sealed value that no longer opens (the secret key changed, or
the row was edited by hand) reads as None: the page then says the secret is not set.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken

from .tokens import derived_secret


def _fernet(purpose: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(bytes.fromhex(derived_secret("sealed", purpose))))


def seal(purpose: str, secret: str) -> str:
    """`secret`, sealed for `purpose` (another purpose's key does not open it)."""
    return _fernet(purpose).encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(purpose: str, sealed: str) -> str | None:
    """The secret `seal(purpose, …)` sealed, or None when `sealed` is empty or does not open."""
    if not sealed:
        return None
    try:
        return _fernet(purpose).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        return None
