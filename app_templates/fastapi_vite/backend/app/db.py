"""The app's own MongoDB database (MONGODB_URL / MONGODB_DB; MGX gives each app `app_<slug>`).

One client per process (pymongo pools connections itself). Add your collections here next to
`users`, and create their indexes in `ensure_indexes` (it runs at startup and is idempotent).
"""
import logging
import threading
from datetime import datetime, timezone
from functools import lru_cache

from pymongo import ASCENDING, MongoClient
from pymongo.errors import PyMongoError

from .config import Settings

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    pass


@lru_cache(maxsize=4)
def client(url: str) -> MongoClient:
    # Short timeouts: an unreachable database fails one request with a clear page instead of
    # hanging it for pymongo's default 30 s.
    return MongoClient(url, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, tz_aware=True)


def database(settings: Settings):
    if not settings.mongodb_url:
        return None
    return client(settings.mongodb_url)[settings.mongodb_db]


_indexed: set[tuple[str, str]] = set()
_lock = threading.Lock()


def ensure_indexes(settings: Settings) -> None:
    db = database(settings)
    if db is None:
        return
    key = (settings.mongodb_url, settings.mongodb_db)
    with _lock:
        if key in _indexed:
            return
        db.users.create_index([("sub", ASCENDING)], unique=True, name="sub_unique")
        _indexed.add(key)


def ensure_indexes_in_background(settings: Settings) -> None:
    """At startup, without delaying it: a database that is down now is retried at the first login."""
    def run():
        try:
            ensure_indexes(settings)
        except PyMongoError as exc:
            log.warning("MongoDB not reachable at startup (%s); will retry at the first login", exc)
    threading.Thread(target=run, name="mongo-indexes", daemon=True).start()


def upsert_user(settings: Settings, *, sub: str, username: str, email: str) -> None:
    db = database(settings)
    if db is None:
        log.warning("MONGODB_URL is not set: the login of %s is not recorded", username)
        return
    now = datetime.now(timezone.utc)
    try:
        ensure_indexes(settings)
        # A whole-document replace rather than `$set`: MGX's embedded MongoDB-compatible store
        # keeps a datetime `$set` on an existing document as a string. Fields the app added stay.
        existing = db.users.find_one({"sub": sub}) or {}
        doc = {**existing, "sub": sub, "username": username, "email": email, "last_login": now,
               "created_at": existing.get("created_at", now)}
        db.users.replace_one({"sub": sub}, doc, upsert=True)
    except PyMongoError as exc:
        log.error("MongoDB refused the user upsert: %s", exc)
        raise DatabaseUnavailable(str(exc)) from exc
