"""Parsing OpenSSH public keys as people paste them (`ssh-ed25519 AAAA... me@laptop`).

Every rejection says what is wrong in words a person can act on: a private key pasted by
mistake, a DSA key, a short RSA key, a truncated line.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from core.errors import Invalid

ALLOWED_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MIN_RSA_BITS = 2048
MAX_KEY_CHARS = 16_000


class SSHKeyError(Invalid, ValueError):
    """The text is not a public key MGX accepts; the message says why (a refusal of the
    `public_key` field)."""

    def __init__(self, message: str = ""):
        super().__init__(message, field="public_key")


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    blob: bytes
    comment: str
    bits: int | None

    @property
    def public_key(self) -> str:
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"

    @property
    def fingerprint(self) -> str:
        """What `ssh-keygen -lf` prints: SHA256 of the key blob, unpadded base64."""
        return "SHA256:" + base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")


def _first_string(blob: bytes) -> str:
    if len(blob) < 4:
        raise SSHKeyError("The key data is too short to be an SSH public key; it may have been cut off when copying.")
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        raise SSHKeyError("The key data is damaged; copy the whole line from your .pub file again.")
    return blob[4 : 4 + length].decode("ascii", errors="replace")


def parse_public_key(text: str) -> ParsedKey:
    text = (text or "").strip()
    if not text:
        raise SSHKeyError("Paste a public key, for example the contents of ~/.ssh/id_ed25519.pub.")
    if len(text) > MAX_KEY_CHARS:
        raise SSHKeyError("That is far too long to be one SSH public key.")
    if "PRIVATE KEY" in text:
        raise SSHKeyError(
            "That is a private key. Never share it; paste the public key instead (the file ending in .pub)."
        )
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY"):
        raise SSHKeyError("That key is in SSH2 (RFC 4716) format; convert it with “ssh-keygen -i -f key.pub” and paste the result.")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        raise SSHKeyError("Paste one key at a time, on a single line.")
    parts = lines[0].split(None, 2)
    if len(parts) < 2:
        raise SSHKeyError("A public key looks like “ssh-ed25519 AAAAC3Nza… you@host”: the type, then the key data.")
    key_type, data = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""
    if key_type == "ssh-dss":
        raise SSHKeyError("DSA (ssh-dss) keys are no longer accepted; create an Ed25519 key with “ssh-keygen -t ed25519”.")
    if key_type not in ALLOWED_TYPES:
        raise SSHKeyError(
            f"“{key_type[:40]}” is not a supported key type. Use one of: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521."
        )
    try:
        blob = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SSHKeyError("The key data is not valid base64; copy the whole line from your .pub file again.") from None
    if _first_string(blob) != key_type:
        raise SSHKeyError(f"The key data does not match its type “{key_type}”; the line may have been edited.")

    bits = None
    if key_type.startswith("sk-"):
        # Security-key (FIDO) keys: cryptography cannot load them, the structure check above is
        # what OpenSSH itself relies on before it talks to the token.
        bits = 256
    else:
        try:
            key = load_ssh_public_key(f"{key_type} {data}".encode())
        except (ValueError, TypeError, struct.error):
            raise SSHKeyError("The key data is damaged or cut off; copy the whole line from your .pub file again.") from None
        if isinstance(key, rsa.RSAPublicKey):
            bits = key.key_size
            if bits < MIN_RSA_BITS:
                raise SSHKeyError(
                    f"This RSA key has only {bits} bits; use at least {MIN_RSA_BITS} (or an Ed25519 key)."
                )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            bits = key.curve.key_size
        elif isinstance(key, ed25519.Ed25519PublicKey):
            bits = 256
    return ParsedKey(key_type=key_type, blob=blob, comment=comment[:100], bits=bits)
