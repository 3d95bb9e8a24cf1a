"""Container output for the Logs tab, the read-only terminal and `GET /api/apps/<slug>/logs`.

Containers are found by role (`containers.docker_client.labels`): `dev` today, and `prod`,
`prod-backend`, `prod-frontend` once production deploys them; nothing here knows more about a
role than its name, so production containers plug in by carrying the labels.

Live output: one Docker log stream per container per MGX process, however many browsers watch.
The first viewer in a process opens it; its lines go to the channel-layer group
`logs.<container>`, which every viewer's socket joins; the last viewer to leave closes it. A
viewer that disconnects stops nothing for the others. When the container stops, Docker ends the
stream, and the group hears `log.end` once. (With several Daphne processes each holds its own
stream for the viewers it serves: still one per container per process, never one per viewer.)
"""
from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from dataclasses import dataclass, field

import docker
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from containers.docker_client import client, container_name, instance_id
from core.errors import Conflict, NotFound

log = logging.getLogger(__name__)

DEV_ROLES = ("dev",)
PROD_ROLES = ("prod", "prod-backend", "prod-frontend")
MAX_TAIL = 5000
BATCH_LINES = 200  # lines per channel-layer message at most (a burst is sent in pieces)


class NotDeployed(Conflict):
    """Asked for the output of containers that do not exist (prod before a deploy)."""

    kind = "conflict"


@dataclass(frozen=True)
class Source:
    """One container whose output can be read: its role and its Docker name."""

    role: str
    name: str


def _roles_for(target: str) -> tuple[str, ...]:
    if target == "dev":
        return DEV_ROLES
    if target == "prod":
        return PROD_ROLES
    if target in DEV_ROLES + PROD_ROLES:
        return (target,)
    raise NotFound(f"No such log target {target!r}: use dev, prod, {', '.join(PROD_ROLES[1:])}.")


def _role_of(container) -> str:
    """The log role of one of MGX's containers: `dev`, or for production (deployments.production:
    role `prod`, part `app`/`backend`/`frontend`) `prod`, `prod-backend`, `prod-frontend`."""
    role = container.labels.get("mgx.role", "")
    part = container.labels.get("mgx.part", "")
    if role == "prod" and part in ("backend", "frontend"):
        return f"prod-{part}"
    return role


def _containers(slug: str) -> dict[str, object]:
    """Role -> container. During a production switch two releases run side by side: the newer
    release (the one being switched to, or serving) wins, running before stopped."""
    found = client().containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={slug}"]})

    def rank(c):
        return (c.status == "running", int(c.labels.get("mgx.release") or 0))

    by_role: dict[str, object] = {}
    for container in sorted(found, key=rank):
        by_role[_role_of(container)] = container  # the best-ranked comes last and stays
    return by_role


def log_sources(*, app, target: str) -> list[Source]:
    """The containers `target` names for this app (dev: the dev container, prod: every
    production container). NotDeployed when there are none, saying what to do."""
    roles = _roles_for(target)
    present = _containers(app.slug)
    sources = [Source(role=r, name=present[r].name if r in PROD_ROLES else container_name(slug=app.slug, role=r))
               for r in roles if r in present]
    if not sources:
        if roles[0] in PROD_ROLES:
            raise NotDeployed("The app is not deployed to production yet, so it has no production logs.")
        raise NotDeployed("The dev container is not running; start it on the Dev tab to see its logs.")
    return sources


def log_targets(*, app) -> list[str]:
    """Roles whose output can be viewed now (for the Logs tab's selector); dev always first."""
    present = _containers(app.slug)
    return ["dev"] + [r for r in PROD_ROLES if r in present]


def split_line(raw: str) -> dict:
    """Docker's `<RFC 3339 nano timestamp> <text>` as {"ts", "line"}."""
    ts, _, text = raw.partition(" ")
    return {"ts": ts, "line": text.rstrip("\r")}


def log_tail(*, source: Source, tail: int = 100) -> list[dict]:
    """The last `tail` lines of one container, with Docker's timestamps."""
    tail = max(0, min(int(tail), MAX_TAIL))
    if tail == 0:
        return []
    try:
        raw = client().containers.get(source.name).logs(tail=tail, timestamps=True)
    except docker.errors.NotFound:
        return []
    return [split_line(line) for line in raw.decode(errors="replace").splitlines()]


def log_download(*, source: Source):
    """The whole log of one container, as chunks of text lines (for a download)."""
    try:
        container = client().containers.get(source.name)
    except docker.errors.NotFound:
        return iter(())
    return container.logs(stream=True, follow=False, timestamps=True)


def container_running(*, source: Source) -> bool:
    try:
        return client().containers.get(source.name).status == "running"
    except docker.errors.NotFound:
        return False


def log_group(name: str) -> str:
    return f"logs.{name}"


# ---------------------------------------------------------------- the shared live stream


@dataclass
class _Stream:
    name: str
    viewers: set[str] = field(default_factory=set)
    response: object = None  # Docker's CancellableStream, closed to stop the reader thread
    closed: bool = False


_streams: dict[str, _Stream] = {}
_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()
# Every Docker log stream this process opened, per container name: what the "one stream per
# container" promise is checked against.
opened: dict[str, int] = {}


def _lock() -> asyncio.Lock:
    # One lock per event loop (Daphne has one; tests may run several in turn).
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


def streams_open() -> dict[str, int]:
    """Container name → viewers in this process, for each open Docker log stream."""
    return {name: len(s.viewers) for name, s in _streams.items()}


async def stream_join(*, source: Source, channel_name: str) -> bool:
    """Add a viewer (a consumer's channel) to the container's live output, opening the Docker
    stream when it is the first. False when the container is not running (nothing to follow)."""
    layer = get_channel_layer()
    await layer.group_add(log_group(source.name), channel_name)
    async with _lock():
        stream = _streams.get(source.name)
        if stream is None:
            response = await sync_to_async(_open, thread_sensitive=False)(source.name)
            if response is None:
                await layer.group_discard(log_group(source.name), channel_name)
                return False
            stream = _streams[source.name] = _Stream(name=source.name, response=response)
            opened[source.name] = opened.get(source.name, 0) + 1
            queue: asyncio.Queue = asyncio.Queue()
            asyncio.ensure_future(_publisher(stream, queue))
            threading.Thread(target=_pump, args=(stream, queue, asyncio.get_running_loop()), daemon=True,
                             name=f"logs-{source.name}").start()
        stream.viewers.add(channel_name)
    return True


async def stream_leave(*, source: Source, channel_name: str) -> None:
    """A viewer left; the last one closes the Docker stream."""
    await get_channel_layer().group_discard(log_group(source.name), channel_name)
    async with _lock():
        stream = _streams.get(source.name)
        if stream is None:
            return
        stream.viewers.discard(channel_name)
        if not stream.viewers:
            _close(stream)


def _open(name: str):
    try:
        container = client().containers.get(name)
    except docker.errors.NotFound:
        return None
    if container.status != "running":
        return None
    # tail=0: only what comes after; each viewer fetched its own recent lines already.
    return container.logs(stream=True, follow=True, tail=0, timestamps=True)


def _close(stream: _Stream) -> None:
    stream.closed = True
    if _streams.get(stream.name) is stream:
        del _streams[stream.name]
    try:
        stream.response.close()
    except Exception:  # already closed by Docker
        pass


_END = None


def _pump(stream: _Stream, queue: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
    """Read the Docker stream in a thread and queue its lines for the event loop, in order."""
    pending = ""

    def put(item):
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone (process shutting down)
            pass

    try:
        for chunk in stream.response:
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.split("\n")
            if lines:
                put([split_line(line) for line in lines])
    except Exception as exc:  # closed under us (last viewer left) or the engine went away
        if not stream.closed:
            log.info("log stream of %s ended: %s", stream.name, exc)
    if pending and not stream.closed:
        put([split_line(pending)])
    put(_END)


async def _publisher(stream: _Stream, queue: asyncio.Queue) -> None:
    """Send the queued lines to the group in order; when Docker ended the stream by itself (the
    container stopped), say so once."""
    layer = get_channel_layer()
    group = log_group(stream.name)
    while True:
        lines = await queue.get()
        if lines is _END:
            break
        for start in range(0, len(lines), BATCH_LINES):
            await layer.group_send(group, {"type": "log.lines", "lines": lines[start:start + BATCH_LINES]})
    if stream.closed:
        return  # the last viewer left: nobody to tell
    async with _lock():
        if _streams.get(stream.name) is stream:
            del _streams[stream.name]
        stream.closed = True
    await layer.group_send(group, {"type": "log.end"})
