"""Django's database sessions, read with one query compiled once (core.rows) instead of an ORM
`get()` per request: every request to MGX with a login cookie reads its session.

`SESSION_ENGINE = "core.sessions"`. Only the read changes; saving, creating, expiring and
deleting are Django's own, on the same table, so sessions written by either read the same.
"""
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from .rows import RowQuery, db_datetime

LIVE_SESSION = RowQuery(Session, "{session_key} = %s AND {expire_date} > %s", fields=("session_key", "session_data"))


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        row = LIVE_SESSION.get(self.session_key, db_datetime(timezone.now(), model=Session))
        if row is None:
            self._session_key = None
        return row
