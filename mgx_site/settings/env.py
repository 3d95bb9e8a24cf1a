"""The environment reader and the paths every other settings module builds on."""
import os
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from mgx_site import defaults
from mgx_site.defaults import BASE_DIR  # noqa: F401 (re-exported to the settings)


defaults.dotenv_load()

env = environ.Env()

VAR_DIR = defaults.var_dir(os.environ)

MGX_HOST = env("MGX_HOST", default=defaults.MGX_HOST)
MGX_PORT = env.int("MGX_PORT", default=defaults.MGX_PORT)
MGX_PUBLIC_URL = env("MGX_PUBLIC_URL", default=f"http://{MGX_HOST}:{MGX_PORT}").rstrip("/")
# MGX's origin (scheme://host[:port]), what browsers send as Origin from MGX's pages.
MGX_ORIGIN = "/".join(MGX_PUBLIC_URL.split("/")[:3])

# The apps gateway: its own process and its own origin, so nothing an app serves runs on MGX's
# origin. The dev preview is checked with MGX's session cookie, which browsers send to every
# port of a host name: keep the apps on MGX's host name (another port) unless you front both
# with a proxy that shares the cookie domain.
MGX_APPS_HOST = env("MGX_APPS_HOST", default=MGX_HOST)
MGX_APPS_PORT = env.int("MGX_APPS_PORT", default=defaults.MGX_APPS_PORT)
_public_hostname = urlsplit(MGX_PUBLIC_URL).hostname or MGX_HOST
_public_hostname = f"[{_public_hostname}]" if ":" in _public_hostname else _public_hostname
MGX_APPS_URL = env("MGX_APPS_URL", default=f"http://{_public_hostname}:{MGX_APPS_PORT}").rstrip("/")


def secret_key() -> str:
    """MGX_SECRET_KEY, or the key `./mgx` generated once under the var dir (restarts keep
    sessions valid). Settings only read it: nothing is generated at import time."""
    value = env("MGX_SECRET_KEY", default="")
    if value:
        return value
    path = VAR_DIR / defaults.SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"No secret key: set MGX_SECRET_KEY, or run ./mgx up once (it writes {path})."
        ) from None
