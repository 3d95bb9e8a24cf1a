"""Each app's own database `app_<slug>` on the apps' MongoDB: its name, how MGX reaches the
store (directly, trusted), the connection string an app's containers get (its own user, through
the guard on the embedded store or on a MongoDB that enforces authentication), and the row that
records it (`AppDatabase`): made before an app's containers first start, dropped with the app.
deployments.environment hands the result to the containers; databases.store opens it for the
Database tab."""
from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit, urlunsplit

import pymongo
import pymongo.errors
from django.conf import settings
from django.utils import timezone

from core.errors import Unavailable
from core.tokens import derived_secret

from .models import AppDatabase

log = logging.getLogger(__name__)


def database_name(*, slug: str) -> str:
    return f"app_{slug}"


def apps_store() -> pymongo.MongoClient:
    """A client of the apps' MongoDB as MGX reaches it (the Database tab uses it too): the
    embedded store directly on loopback, trusted, never through the apps' guard."""
    timeout = settings.MGX_MONGO_TIMEOUT_MS
    return pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout)


def app_mongo_password(*, slug: str) -> str:
    return derived_secret("mongo-user", slug)


def apps_mongo_authenticates() -> bool:
    """Apps connect as their own user: through the guard in front of the embedded store (the
    default), or to a MongoDB elsewhere that enforces authentication (MGX_APPS_MONGO_AUTH)."""
    return settings.MGX_APPS_MONGO_GUARDED or settings.MGX_APPS_MONGO_AUTH


def store_keeps_app_users() -> bool:
    """MGX makes (and drops) each app's user on the store itself: a MongoDB elsewhere with
    MGX_APPS_MONGO_AUTH. The guard knows the apps' users without any (their passwords are derived)."""
    return settings.MGX_APPS_MONGO_AUTH and not settings.MGX_APPS_MONGO_GUARDED


def app_mongo_url(*, slug: str, base_url: str | None = None) -> str:
    """The app's connection string: its own user `app_<slug>` authenticating against its own
    database (no other credentials of the base URL kept). The guard (databases/guard.py) and a
    MongoDB with MGX_APPS_MONGO_AUTH both let that user open `app_<slug>` only."""
    name = database_name(slug=slug)
    parts = urlsplit(base_url or settings.MGX_APPS_MONGO_URL_FOR_APPS)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(name, safe='')}:{quote(app_mongo_password(slug=slug), safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", f"authSource={name}", ""))


def app_user_ensure(db) -> None:
    """On an apps' MongoDB that enforces authentication (MGX_APPS_MONGO_AUTH; MGX connects as
    an account that may manage users): the app's own user, whose only role is readWrite on its
    own database, so its connection string reads no other app's data nor MGX's."""
    slug = db.name.removeprefix("app_")
    roles = [{"role": "readWrite", "db": db.name}]
    if db.command("usersInfo", db.name).get("users"):
        db.command("updateUser", db.name, pwd=app_mongo_password(slug=slug), roles=roles)
    else:
        db.command("createUser", db.name, pwd=app_mongo_password(slug=slug), roles=roles)


def app_database_ensure(*, app) -> AppDatabase:
    """The app's database row, and on the store its `users` collection with the unique index on
    `sub` (idempotent). A store that does not answer leaves the row unprovisioned and logs why:
    the app still starts, and its login says the database is unreachable.

    On a store that keeps the apps' users (MGX_APPS_MONGO_AUTH) the app's user is made or
    re-set every time: an app provisioned before that was switched on (or before MGX's secret
    key changed) gets the user its MONGODB_URL names at its next start."""
    db, _ = AppDatabase.objects.get_or_create(app=app, defaults={"name": database_name(slug=app.slug)})
    if db.provisioned_at is None or store_keeps_app_users():
        try:
            with apps_store() as client:
                if db.provisioned_at is None:
                    client[db.name]["users"].create_index([("sub", pymongo.ASCENDING)], unique=True)
                if store_keeps_app_users():
                    app_user_ensure(client[db.name])
        except pymongo.errors.PyMongoError as exc:
            log.warning("the apps' MongoDB did not provision %s: %s", db.name, exc)
            return db
        if db.provisioned_at is None:
            db.provisioned_at = timezone.now()
            db.save(update_fields=["provisioned_at"])
    return db


class AppDatabaseUnavailable(Unavailable):
    """The apps' MongoDB did not answer; the message says so, without its address."""


def app_database_drop(*, app) -> None:
    """The app is being deleted: its database goes too, so a later app given the same slug never
    inherits its users or documents. Raises AppDatabaseUnavailable when the store does not
    answer (the caller keeps the app, to try again)."""
    name = database_name(slug=app.slug)
    try:
        with apps_store() as client:
            client.drop_database(name)
            if store_keeps_app_users():
                client[name].command("dropAllUsersFromDatabase")  # dropping a database keeps its users
    except pymongo.errors.PyMongoError as exc:
        log.warning("the apps' MongoDB did not drop %s: %s", name, exc)
        raise AppDatabaseUnavailable("The apps' database server did not answer, so the app's data could not be removed.") from exc
