"""The RS256 keys that sign access tokens and ID tokens, kept under the var dir.

Read by the settings module before Django is set up, so nothing here imports Django at module
level. One JSON file (`<var>/oidc_keys.json`, mode 0600) holds the active private key and the
keys it replaced, each with the time it was retired. A retired key keeps signing nothing but
stays in the JWKS until every token it signed has expired (`retention_seconds`, the longest
token lifetime), so apps that verify locally keep accepting old tokens across a rotation.

`MGX_OIDC_RSA_PRIVATE_KEY` in the environment replaces the file (a secret store, several MGX
replicas sharing one key); rotation is then the operator's job and the command refuses.

Running processes notice a rotation on their next request (`KeyringWatcher`, one stat() of the
file), so `manage.py rotate_signing_key` takes effect without a restart.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

KEYRING_FILE = "oidc_keys.json"
KEY_BITS = 2048


@dataclass(frozen=True)
class RetiredKey:
    pem: str
    retired_at: float


@dataclass(frozen=True)
class Keyring:
    active_pem: str
    retired: tuple[RetiredKey, ...] = ()
    source: str = "file"  # "file" or "env"
    path: Path | None = None
    mtime_ns: int = 0

    @property
    def inactive_pems(self) -> list[str]:
        return [k.pem for k in self.retired]

    @property
    def active_kid(self) -> str:
        return key_id(self.active_pem)


def key_id(pem: str) -> str:
    """The `kid` of a key: its RFC 7638 thumbprint, the same value DOT puts in the JWKS and in
    ID token headers, so one key has one id everywhere."""
    from jwcrypto import jwk

    return jwk.JWK.from_pem(pem.encode()).thumbprint()


def _new_private_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _write_atomically(path: Path, data: dict, *, exclusive: bool) -> bool:
    """Write JSON to `path` via a private temp file. With `exclusive`, only create: returns False
    when another process (Daphne, the Celery worker and `migrate` all start at once) got there
    first, so exactly one generated key wins and every process reads that one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".oidc_keys-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        os.replace(tmp, path)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read(path: Path, *, retention_seconds: int, now: float) -> Keyring:
    stat = path.stat()
    data = json.loads(path.read_text())
    retired = tuple(
        RetiredKey(pem=k["pem"], retired_at=float(k["retired_at"]))
        for k in data.get("retired", [])
        if now - float(k["retired_at"]) < retention_seconds
    )
    return Keyring(active_pem=data["active"], retired=retired, source="file", path=path, mtime_ns=stat.st_mtime_ns)


def keyring_load(var_dir: Path | str, *, retention_seconds: int, env_pem: str = "", now: float | None = None) -> Keyring:
    """The current keys; generates and stores the first key when there is none yet."""
    now = time.time() if now is None else now
    if env_pem.strip():
        return Keyring(active_pem=env_pem.strip() + "\n", source="env")
    path = Path(var_dir) / KEYRING_FILE
    if not path.exists():
        _write_atomically(path, {"active": _new_private_pem(), "retired": []}, exclusive=True)
    return _read(path, retention_seconds=retention_seconds, now=now)


def keyring_rotate(var_dir: Path | str, *, retention_seconds: int, env_pem: str = "",
                   now: float | None = None) -> tuple[Keyring, str]:
    """Make a new active key; the old one is kept (public half published) for `retention_seconds`.
    Keys retired longer ago than that are dropped from the file. Returns the new ring and the
    retired key's id."""
    now = time.time() if now is None else now
    current = keyring_load(var_dir, retention_seconds=retention_seconds, env_pem=env_pem, now=now)
    if current.source != "file":
        raise RuntimeError("the signing key comes from MGX_OIDC_RSA_PRIVATE_KEY; rotate it where it is stored")
    retired = [{"pem": current.active_pem, "retired_at": now}]
    retired += [{"pem": k.pem, "retired_at": k.retired_at} for k in current.retired]
    _write_atomically(current.path, {"active": _new_private_pem(), "retired": retired}, exclusive=False)
    return _read(current.path, retention_seconds=retention_seconds, now=now), key_id(current.active_pem)


def keyring_use(ring: Keyring) -> None:
    """Make `ring` the keys every process path signs and publishes with. DOT reads these per
    request (JWKS, ID-token signing); the JWT generator and verifier read them through
    oauth2_settings as well, so one update switches every path at once."""
    from django.conf import settings
    from oauth2_provider.settings import oauth2_settings

    settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"] = ring.active_pem
    settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEYS_INACTIVE"] = ring.inactive_pems
    settings.MGX_OIDC_KEYRING = ring
    oauth2_settings.reload()


def keyring_install() -> Keyring:
    """At start-up (AccountsConfig.ready): load the keys, generating the first one when there
    is none yet, and put them to use."""
    from django.conf import settings

    ring = keyring_load(settings.VAR_DIR, retention_seconds=settings.MGX_OIDC_KEY_RETENTION_SECONDS,
                        env_pem=settings.MGX_OIDC_RSA_PRIVATE_KEY)
    keyring_use(ring)
    return ring


@dataclass
class KeyringWatcher:
    """Re-reads the keyring file when it changed since it was loaded (a rotation by another
    process) and hands the new ring to `on_change`."""

    ring: Keyring
    retention_seconds: int
    on_change: object = None
    _checked: float = field(default=0.0, repr=False)

    def check(self) -> bool:
        if self.ring.source != "file" or self.ring.path is None:
            return False
        try:
            mtime = self.ring.path.stat().st_mtime_ns
        except OSError:
            return False
        if mtime == self.ring.mtime_ns:
            return False
        self.ring = _read(self.ring.path, retention_seconds=self.retention_seconds, now=time.time())
        if callable(self.on_change):
            self.on_change(self.ring)
        return True
