"""One mongoengine connection per process, to whatever MongoDB wire-protocol server
MGX_MONGO_URL names. `connect=False` defers the TCP connect to first use, so processes that
never touch MongoDB (migrate, ./mgx status) do not need it up."""
import mongoengine
from django.conf import settings


def connect_mongo() -> None:
    mongoengine.disconnect()  # re-entrant: runserver autoreload and tests may call ready() twice
    mongoengine.connect(
        host=settings.MGX_MONGO_URL,
        connect=False,
        serverSelectionTimeoutMS=settings.MGX_MONGO_TIMEOUT_MS,
        uuidRepresentation="standard",
        tz_aware=True,
    )
