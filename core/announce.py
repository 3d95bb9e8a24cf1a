"""One way for services to tell browsers that something changed: a channel-layer message to the
app's group, with a typed payload per kind (like paperless-ngx's `StatusUpdatePayload`).
Consumers only forward what arrives here, and only the kinds they declare; they never decide
what happened.

Add a kind: a TypedDict below, one entry in PAYLOADS, and the consumer that should forward it
lists it in its `kinds`."""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any, Callable, Literal, TypedDict, get_type_hints

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


class DevStatus(TypedDict):
    """The dev container's phase changed, or the app's health in it (Dev tab, headers)."""

    phase: str
    message: str
    health: str  # "ok", "error", or "" before the first check
    error: str  # its first lines, when health is "error"


class AgentEventPayload(TypedDict, total=False):
    """One stored agent event (`agents.documents.AgentEvent.as_dict()`): the chat's stream."""

    seq: int
    type: str
    run: str
    payload: dict
    at: str | None


class RunStatus(TypedDict):
    """An agent run moved to another status (queued, running, waiting, done, failed, cancelled)."""

    run: str
    status: str
    error: str


class WorkspaceChanged(TypedDict):
    """Files changed in the workspace: who changed them (a username, or "agent") and where."""

    paths: list[str]
    by: str


class AppLifecycle(TypedDict):
    """An app (session) was created or deleted."""

    slug: str
    by: str


class BuildLogLines(TypedDict):
    """New lines of a production build's output (Prod tab, appended as they come)."""

    build: int
    lines: list[str]


class BuildStatus(TypedDict):
    """A production build was queued, started, moved to its next step, succeeded or failed."""

    build: int
    number: int
    status: str
    message: str
    step: str  # the step running now, while it builds
    publish: bool  # deployed once it succeeds


class ReleaseStatus(TypedDict):
    """A release started, went live, failed its health check or was stopped."""

    release: int
    number: int
    status: str
    message: str


class DatabaseChanged(TypedDict):
    """The app's own database changed through MGX (the Database tab or API): what, and where."""

    action: str  # collection_created, collection_dropped, document_inserted, …
    collection: str


class MembersChanged(TypedDict):
    """The app's users or its OAuth client changed (the Users tab)."""

    action: str  # member_created, member_activated, member_deactivated, password_reset, …
    username: str


class TelemetryReceived(TypedDict):
    """The app sent spans or log records (the Traces tab and the Logs tab's OTel view)."""

    spans: int
    logs: int


class TelemetrySettings(TypedDict):
    """The app's ingest token was rotated or its retention changed."""

    action: str  # token_rotated, retention_set


Kind = Literal["dev.status", "build.log", "build.status", "release.status", "agent.event", "run.status",
               "workspace.changed", "app.created", "app.deleted", "database.changed", "members.changed",
               "telemetry.received", "telemetry.settings"]

PAYLOADS: dict[str, type] = {
    "dev.status": DevStatus,
    "build.log": BuildLogLines,
    "build.status": BuildStatus,
    "release.status": ReleaseStatus,
    "agent.event": AgentEventPayload,
    "run.status": RunStatus,
    "workspace.changed": WorkspaceChanged,
    "app.created": AppLifecycle,
    "app.deleted": AppLifecycle,
    "database.changed": DatabaseChanged,
    "members.changed": MembersChanged,
    "telemetry.received": TelemetryReceived,
    "telemetry.settings": TelemetrySettings,
}


# Each kind's (required, allowed) keys, read from its TypedDict once: announce() runs for every
# streamed agent event, so it must not inspect types per call.
_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    kind: (frozenset(payload.__required_keys__), frozenset(get_type_hints(payload))) for kind, payload in PAYLOADS.items()
}


def app_group(slug: str) -> str:
    return f"app.{slug}"


def _check(kind: str, data: dict) -> None:
    """A wrong payload is a programming error: fail loudly in development and tests rather than
    send browsers something their scripts do not expect."""
    if kind not in _KEYS:
        raise ValueError(f"unknown announcement kind {kind!r}; add it to core.announce.PAYLOADS")
    required, known = _KEYS[kind]
    missing = required - set(data)
    extra = set(data) - known
    if missing or extra:
        raise ValueError(f"{kind} payload: missing {sorted(missing)}, unexpected {sorted(extra)}")


SEND_TIMEOUT = 10.0  # seconds; Redis's own retries give up well before


class _Sender:
    """One event loop per process, on a thread of its own, that sends every announcement made
    by synchronous code (services run in Celery workers, request threads, scripts).

    `async_to_sync` made a thread and an event loop per call, and channels_redis keeps its
    connection pool per event loop, so each announcement also connected to Redis and closed the
    connection: 15 ms per announcement on a busy 2-core machine, and an agent announces every
    streamed message delta. Here the loop, and so the pool, lives as long as the process (a
    forked child, such as a Celery pool process, makes its own)."""

    def __init__(self):
        self.forget()

    def forget(self) -> None:
        """As new: in a forked child the parent's loop thread does not exist (nor may its lock
        be free)."""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mgx-announce", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def send(self, coroutine) -> None:
        """Run `coroutine` on the sender's loop and wait for it (write, then send: in order)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            future.result(timeout=SEND_TIMEOUT)
        except BaseException:
            future.cancel()
            raise


_SENDER = _Sender()
os.register_at_fork(after_in_child=_SENDER.forget)


def announce(*, slug: str, kind: Kind, data: dict) -> None:
    _check(kind, data)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # `slug` tells the receiving process's feed (core.feed) which app's sockets to hand it to.
        _SENDER.send(layer.group_send(app_group(slug), {"type": "app.event", "slug": slug, "kind": kind, "data": data}))
    except Exception as exc:  # a missed live update must never break the work that caused it
        log.warning("announce %s for %s failed: %s", kind, slug, exc)


def model_update(instance, *, announced: Callable[[Any], None], **changes):
    """Write, then send (zulip's `do_*` actions; HackSoft's `model_update`): set `changes` on the
    row, save it, and announce the row as it now is with `announced(instance)`, so no state
    change is made that the pages cannot hear about. Returns the instance."""
    for key, value in changes.items():
        setattr(instance, key, value)
    instance.save()
    announced(instance)
    return instance
