"""Agent events live in MongoDB (`mgx` database), one document per event, numbered per session."""
import datetime as dt

import mongoengine as me

EVENT_TYPES = (
    "AGENT_START",
    "MESSAGE_DELTA",
    "TOOL_START",
    "TOOL_END",
    "FILE_CHANGED",
    "INTERRUPT",
    "USAGE",
    "FINISH",
    "ERROR",
)


def _now():
    return dt.datetime.now(dt.timezone.utc)


class EventCounter(me.Document):
    """The last sequence number handed out for a session; bumped atomically with $inc."""

    session = me.StringField(primary_key=True)
    seq = me.IntField(default=0)
    meta = {"collection": "event_counters"}


class AgentEvent(me.Document):
    session = me.StringField(required=True)
    seq = me.IntField(required=True, min_value=1)
    type = me.StringField(required=True, choices=EVENT_TYPES)
    run = me.StringField(default="")
    payload = me.DictField()
    created_at = me.DateTimeField(default=_now)

    meta = {
        "collection": "agent_events",
        "indexes": [{"fields": ["session", "seq"], "unique": True}],
        "ordering": ["seq"],
    }
