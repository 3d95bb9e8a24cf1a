"""The environment reader and the paths every other settings module builds on."""
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

VAR_DIR = Path(env("MGX_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

MGX_HOST = env("MGX_HOST", default="127.0.0.1")
MGX_PORT = env.int("MGX_PORT", default=8000)
MGX_PUBLIC_URL = env("MGX_PUBLIC_URL", default=f"http://{MGX_HOST}:{MGX_PORT}").rstrip("/")


def secret_from_file(name: str, *, nbytes: int = 48) -> str:
    """A secret generated once and kept under var/, so restarts keep sessions valid."""
    path = VAR_DIR / name
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.touch(mode=0o600)
    path.write_text(value)
    return value
