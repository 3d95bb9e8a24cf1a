"""The agent team's records in MongoDB (`mgx` database).

Events are the chat: one document per event, numbered per session (`seq`, 1, 2, 3 …), written
by the agent runner (or MGX for USER_MESSAGE) and published on the channel layer at once.
Payloads by type (every event also carries `session`, `seq`, `run`, `created_at`):

- USER_MESSAGE   {"text", "user"}
- AGENT_START    {"role"}                      a role begins its turn
- MESSAGE_DELTA  {"role", "message_id", "text"} consecutive deltas with one message_id are one message
- TOOL_START     {"role", "tool", "call_id", "args"}
- TOOL_END       {"role", "tool", "call_id", "ok", "output"}   output cut to 4,000 characters
- FILE_CHANGED   {"path", "action"}            action: created | edited | deleted
- INTERRUPT      {"call_id", "tool", "args", "kind", "reason"}  kind: approval | question
- USAGE          {"role", "model", "prompt_tokens", "completion_tokens", "cost"}
- FINISH         {"status", "summary", "commit"}  status: done | rejected | cancelled | budget | steps | loop | no_llm
- ERROR          {"message"}

Roles: team_leader, product_manager, architect, engineer, qa.
"""
import datetime as dt

import mongoengine as me

from core.mongo import UtcDateTimeField
from core.tokens import token_hash as core_token_hash

EVENT_TYPES = (
    "USER_MESSAGE",
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
ROLES = ("team_leader", "product_manager", "architect", "engineer", "qa")
RUN_STATUSES = ("queued", "running", "waiting", "done", "failed", "cancelled")


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
        "indexes": [{"fields": ["session", "seq"], "unique": True}, {"fields": ["run", "seq"]}],
        "ordering": ["seq"],
    }

    def as_dict(self) -> dict:
        return {"seq": self.seq, "type": self.type, "run": self.run, "payload": self.payload,
                "at": self.created_at.isoformat() if self.created_at else None}


class AgentRun(me.Document):
    """One user message (or one answer to an interrupt) and the team's work on it.

    The LangGraph thread is the session: runs continue one conversation, and a run that stopped
    at an interrupt is resumed by a new run whose `resume` holds the user's decision.
    """

    run_id = me.StringField(primary_key=True)
    session = me.StringField(required=True)
    user = me.StringField(default="")
    status = me.StringField(choices=RUN_STATUSES, default="queued")
    input = me.StringField(default="")
    resume = me.DictField(null=True)  # {"call_id", "approved", "command"?, "answer"?}
    token_hash = me.StringField(default="")  # sha256 of the run's exec token
    container_id = me.StringField(default="")
    # The Celery worker (its node name) that watches the run while it runs: only that worker,
    # restarted, or any worker once its heartbeat has expired (core.workers), may declare the
    # run orphaned.
    worker = me.StringField(default="")
    # When that worker took the run (queued -> running), in epoch seconds: a run its present life
    # took is watched now, even if the worker's start-up reconcile (which ends its previous
    # life's runs) runs later. A number, not a date: the MongoDB-compatible store that MGX runs
    # by default (nx-27017 0.8.1) writes a date set by an update as a string.
    taken_at = me.FloatField(null=True)
    prompt_tokens = me.IntField(default=0)
    completion_tokens = me.IntField(default=0)
    cost = me.FloatField(default=0.0)
    summary = me.StringField(default="")
    created_at = me.DateTimeField(default=_now)
    finished_at = UtcDateTimeField(null=True)  # set by an update: see UtcDateTimeField

    meta = {"collection": "agent_runs", "indexes": ["session", "-created_at"]}


# What `AgentRun.token_hash` keeps of a run's token (the token itself is never stored): the one
# token hash MGX uses.
token_hash = core_token_hash


class UsageRecord(me.Document):
    """One model call: what it cost. Summed per run and per app (the seeds' cost records)."""

    session = me.StringField(required=True)
    run = me.StringField(required=True)
    role = me.StringField(default="")
    model = me.StringField(default="")
    prompt_tokens = me.IntField(default=0)
    completion_tokens = me.IntField(default=0)
    cost = me.FloatField(default=0.0)
    created_at = me.DateTimeField(default=_now)

    meta = {"collection": "agent_usage", "indexes": ["session", "run"]}


class CheckpointBlob(me.Document):
    """One LangGraph checkpoint of a session's conversation (thread = the slug), exactly as the
    agent container serialised it. MGX stores and returns the bytes and never deserialises them:
    they come from a container, and msgpack/pickle from there would be code running on the host."""

    session = me.StringField(required=True)
    ns = me.StringField(default="")
    checkpoint_id = me.StringField(required=True)
    parent_id = me.StringField(default="")
    type = me.StringField(default="")
    checkpoint = me.BinaryField()
    metadata_type = me.StringField(default="")
    metadata = me.BinaryField()
    created_at = me.DateTimeField(default=_now)

    meta = {"collection": "agent_checkpoint_blobs",
            "indexes": [{"fields": ["session", "ns", "-checkpoint_id"], "unique": True}]}


class CheckpointWrite(me.Document):
    """A pending write of a checkpoint (a node's output, an interrupt, a resume value); opaque."""

    session = me.StringField(required=True)
    ns = me.StringField(default="")
    checkpoint_id = me.StringField(required=True)
    task_id = me.StringField(required=True)
    task_path = me.StringField(default="")
    idx = me.IntField(required=True)
    channel = me.StringField(default="")
    type = me.StringField(default="")
    value = me.BinaryField()

    meta = {"collection": "agent_checkpoint_blob_writes",
            "indexes": [{"fields": ["session", "ns", "checkpoint_id", "task_id", "idx"], "unique": True}]}
