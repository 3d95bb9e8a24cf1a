"""MGX's defaults, in one module that imports nothing (not Django, not django-environ): the
settings (`mgx_site/settings/`) and `./mgx` (`mgx_site/cli/`) both read it, so the CLI starts
each service where the settings will look for it. Each name is the environment variable that
overrides it."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

MGX_HOST = "127.0.0.1"
MGX_PORT = 8000
MGX_APPS_PORT = 8080
MGX_REDIS_URL = "redis://127.0.0.1:6379/0"
MGX_MONGO_URL = "mongodb://127.0.0.1:27017/mgx"
# The apps' own store (each app's database app_<slug>): a second embedded server apart from MGX's,
# on loopback; app containers reach it through the guard on the Docker bridge address, as the
# app's own user, so they reach their own data and never another app's nor MGX's.
MGX_APPS_MONGO_PORT = 27018  # the guard, where apps reach it
MGX_APPS_MONGO_STORE_PORT = 27019  # the store itself, loopback only
DOCKER_HOST = "unix:///var/run/docker.sock"
MGX_VAR_DIR = BASE_DIR / "var"
# Docker's usual address for the host on its default bridge, when the engine does not say.
DOCKER_BRIDGE_ADDRESS = "172.17.0.1"
# The file under the var dir that holds the generated SECRET_KEY (`./mgx` makes it once).
SECRET_KEY_FILE = "secret_key"


def internal_port(mgx_port: int | str) -> int:
    """Daphne's internal listener (agent and app containers) is the next port up by default."""
    return int(mgx_port) + 1


def var_dir(environ: dict[str, str]) -> Path:
    return Path(environ.get("MGX_VAR_DIR") or MGX_VAR_DIR).resolve()


def dotenv_load() -> Path | None:
    """Read the project's `.env` (BASE_DIR/.env, or the file MGX_ENV_FILE names; empty: none)
    into os.environ. A variable already set in the environment wins over the file, so
    `MGX_PORT=9000 ./mgx up` still means port 9000. Returns the file read, if any.

    Called here for every process that loads the settings (manage.py, Daphne, Celery) and by
    `./mgx` itself before it builds the environment of the processes it starts, so the CLI's
    addresses and the services agree. The test settings turn it off: a run's private stack must
    not pick up a developer's model endpoint or ports."""
    import environ  # django-environ's parser: quoting and escapes as the settings expect

    name = os.environ.get("MGX_ENV_FILE")
    path = Path(name) if name else (None if name == "" else BASE_DIR / ".env")
    if path is None or not path.is_file():
        return None
    environ.Env.read_env(path, overwrite=False)
    return path


def secret_key_ensure(var_dir: Path) -> Path:
    """Generate the SECRET_KEY file once (mode 0600) if there is none; `./mgx` calls this before
    it starts anything that loads the settings, which only read it."""
    path = Path(var_dir) / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path  # another ./mgx made it meanwhile
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path
