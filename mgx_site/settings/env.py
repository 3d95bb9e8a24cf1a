"""The environment reader and the paths every other settings module builds on."""
import os
import secrets
from urllib.parse import urlsplit
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def dotenv_load() -> Path | None:
    """Read the project's `.env` (BASE_DIR/.env, or the file MGX_ENV_FILE names; empty: none)
    into os.environ. A variable already set in the environment wins over the file, so
    `MGX_PORT=9000 ./mgx up` still means port 9000. Returns the file read, if any.

    Called here for every process that loads the settings (manage.py, Daphne, Celery) and by
    `./mgx` itself before it builds the environment of the processes it starts, so the CLI's
    addresses and the services agree. The test settings turn it off: a run's private stack must
    not pick up a developer's model endpoint or ports."""
    name = os.environ.get("MGX_ENV_FILE")
    path = Path(name) if name else (None if name == "" else BASE_DIR / ".env")
    if path is None or not path.is_file():
        return None
    environ.Env.read_env(path, overwrite=False)
    return path


dotenv_load()

env = environ.Env()

VAR_DIR = Path(env("MGX_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

MGX_HOST = env("MGX_HOST", default="127.0.0.1")
MGX_PORT = env.int("MGX_PORT", default=8000)
MGX_PUBLIC_URL = env("MGX_PUBLIC_URL", default=f"http://{MGX_HOST}:{MGX_PORT}").rstrip("/")
# MGX's origin (scheme://host[:port]), what browsers send as Origin from MGX's pages.
MGX_ORIGIN = "/".join(MGX_PUBLIC_URL.split("/")[:3])

# The apps gateway: its own process and its own origin, so nothing an app serves runs on MGX's
# origin. The dev preview is checked with MGX's session cookie, which browsers send to every
# port of a host name: keep the apps on MGX's host name (another port) unless you front both
# with a proxy that shares the cookie domain.
MGX_APPS_HOST = env("MGX_APPS_HOST", default=MGX_HOST)
MGX_APPS_PORT = env.int("MGX_APPS_PORT", default=8080)
_public_hostname = urlsplit(MGX_PUBLIC_URL).hostname or MGX_HOST
_public_hostname = f"[{_public_hostname}]" if ":" in _public_hostname else _public_hostname
MGX_APPS_URL = env("MGX_APPS_URL", default=f"http://{_public_hostname}:{MGX_APPS_PORT}").rstrip("/")


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
