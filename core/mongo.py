"""One mongoengine connection per process, to whatever MongoDB wire-protocol server
MGX_MONGO_URL names. `connect=False` defers the TCP connect to first use, so processes that
never touch MongoDB (migrate, ./mgx status) do not need it up."""
import datetime as dt

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


class UtcDateTimeField(mongoengine.DateTimeField):
    """A date that reads back as a UTC date however the store kept it. The MongoDB-compatible
    store MGX runs by default (nx-27017 0.8.1) keeps a date written by an update (`$set`, e.g.
    `set__finished_at=...`) as its text in UTC without an offset ("2026-12-01 17:42:50.779000"),
    and a date inserted with the document as a date; MongoDB keeps both as dates."""

    def to_python(self, value):
        if isinstance(value, str):
            parsed = self._parse_datetime(value)
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
        return super().to_python(value)
