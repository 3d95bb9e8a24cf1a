"""Per-app MongoDB users, for an apps' MongoDB that enforces authentication (production
compose: a real `mongo` with `--auth`). With MGX_APPS_MONGO_AUTH on, MGX (connecting with
MGX_APPS_MONGO_URL, an account allowed to manage users) gives each app a user `app_<slug>`
whose only role is `readWrite` on `app_<slug>`, and the app's connection string carries that
user: it cannot read another app's database, nor MGX's. The password is derived from MGX's
secret key (like the app's other per-app secrets), so nothing new is stored and a restart
hands out the same one.

The embedded store (nx-27017) has no users or roles: there the switch stays off and the
isolation is the app's database name only (see databases/tests/test_isolation.py).

Not yet wired into deployments.environment.app_environment (MONGODB_URL): the call is
`app_mongo_url(app=app)` when `settings.MGX_APPS_MONGO_AUTH`."""
from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings

from deployments.environment import _derived_secret

from .store import app_database, app_database_name


def auth_enabled() -> bool:
    return bool(getattr(settings, "MGX_APPS_MONGO_AUTH", False))


def app_mongo_password(*, app) -> str:
    return _derived_secret("mongo-user", app.slug)


def app_user_ensure(*, app) -> str:
    """Creates (or re-sets) the app's user with readWrite on its own database only; returns the
    user name. Idempotent."""
    name = app_database_name(app=app)
    roles = [{"role": "readWrite", "db": name}]
    with app_database(app=app) as db:
        existing = db.command("usersInfo", name).get("users", [])
        if existing:
            db.command("updateUser", name, pwd=app_mongo_password(app=app), roles=roles)
        else:
            db.command("createUser", name, pwd=app_mongo_password(app=app), roles=roles)
    return name


def app_user_drop(*, app) -> None:
    name = app_database_name(app=app)
    with app_database(app=app) as db:
        if db.command("usersInfo", name).get("users"):
            db.command("dropUser", name)


def app_mongo_url(*, app, base_url: str | None = None) -> str:
    """The app's connection string: its own user, authenticating against its own database."""
    name = app_database_name(app=app)
    parts = urlsplit(base_url or settings.MGX_APPS_MONGO_URL_FOR_APPS)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(name, safe='')}:{quote(app_mongo_password(app=app), safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", f"authSource={name}", ""))
