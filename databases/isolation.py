"""Per-app MongoDB users, for an apps' MongoDB that enforces authentication (production
compose: a real `mongo` with `--auth`). With MGX_APPS_MONGO_AUTH on, MGX (connecting with
MGX_APPS_MONGO_URL, an account allowed to manage users) gives each app a user `app_<slug>`
whose only role is `readWrite` on `app_<slug>`, and the app's connection string carries that
user: it cannot read another app's database, nor MGX's. The password is derived from MGX's
secret key (like the app's other per-app secrets), so nothing new is stored and a restart
hands out the same one.

The embedded store (nx-27017) has no users or roles: there the switch stays off and the
isolation is the app's database name only (see databases/tests/test_isolation.py).

Wired in databases.provisioning: `app_database_ensure` makes the user, `app_mongo_url` is what
deployments.environment hands the app, `app_database_drop` drops the user with the database.
This module keeps the names the Database tab and its tests use."""
from __future__ import annotations

from django.conf import settings

from .provisioning import app_mongo_password as _password
from .provisioning import app_mongo_url as _url
from .provisioning import app_user_ensure as _app_user_ensure
from .store import app_database, app_database_name


def auth_enabled() -> bool:
    return bool(getattr(settings, "MGX_APPS_MONGO_AUTH", False))


def app_mongo_password(*, app) -> str:
    return _password(slug=app.slug)


def app_user_ensure(*, app) -> str:
    """Creates (or re-sets) the app's user with readWrite on its own database only; returns the
    user name. Idempotent."""
    with app_database(app=app) as db:
        _app_user_ensure(db)
    return app_database_name(app=app)


def app_user_drop(*, app) -> None:
    name = app_database_name(app=app)
    with app_database(app=app) as db:
        if db.command("usersInfo", name).get("users"):
            db.command("dropUser", name)


def app_mongo_url(*, app, base_url: str | None = None) -> str:
    """The app's connection string: its own user, authenticating against its own database."""
    return _url(slug=app.slug, base_url=base_url)
