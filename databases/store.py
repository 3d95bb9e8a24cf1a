"""The one way MGX's database management opens a database: the app's own `app_<slug>`,
computed from the app (never from input), on the apps' store (MGX_APPS_MONGO_URL), never MGX's
own `mgx` nor the server's `admin`, `local`, `config`. Server errors become domain errors with
the server's words, so the page and the API say what the store said."""
from __future__ import annotations

import contextlib
import re

import pymongo
import pymongo.errors
from django.conf import settings
from pymongo import uri_parser

from core.errors import Conflict, Invalid, Unavailable

from .provisioning import apps_store, database_name

_APP_DB = re.compile(r"app_[a-z0-9][a-z0-9-]{0,62}")
NEVER = frozenset({"admin", "local", "config", "mgx"})


def _mgx_database() -> str:
    try:
        return uri_parser.parse_uri(settings.MGX_MONGO_URL).get("database") or "mgx"
    except (pymongo.errors.InvalidURI, ValueError):
        return "mgx"


def app_database_name(*, app) -> str:
    name = database_name(slug=app.slug)
    # The slug rules already make this so; checked again because this name is what is opened.
    if not _APP_DB.fullmatch(name) or name in NEVER or name == _mgx_database():
        raise Invalid("This app's database name is not one MGX opens.")
    return name


@contextlib.contextmanager
def app_database(*, app):
    """The app's database, with the store's errors said in words a person can act on."""
    name = app_database_name(app=app)
    try:
        with apps_store() as client:
            yield client.get_database(name)
    except pymongo.errors.DuplicateKeyError as exc:
        raise Conflict(f"The database refused a duplicate: {_server_message(exc)}") from None
    except (pymongo.errors.ServerSelectionTimeoutError, pymongo.errors.AutoReconnect,
            pymongo.errors.ConnectionFailure) as exc:
        raise Unavailable("The apps' database server did not answer; try again in a moment.") from exc
    except pymongo.errors.OperationFailure as exc:
        raise Invalid(f"The database refused it: {_server_message(exc)}") from None
    except pymongo.errors.InvalidOperation as exc:
        raise Invalid(f"The database refused it: {exc}") from None


def _server_message(exc: pymongo.errors.PyMongoError) -> str:
    details = getattr(exc, "details", None) or {}
    return str(details.get("errmsg") or exc).split(", full error:")[0]
