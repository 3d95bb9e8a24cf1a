"""An app's live events in one Daphne process: one channel-layer subscription per app group,
fanned out in-process to the sockets of this process that watch that app.

Each event socket used to join the app's group with a channel of its own. channels_redis then
stores one Redis message per process (listing every socket's channel), but in the process every
socket woke its own `receive` (two tasks and an `asyncio.wait` per socket per event) and encoded
the frame itself: about 210 us of Daphne's CPU per frame per viewer (bench/load.py, 200 viewers
of one app: p99 128 ms on a quiet machine, seconds on a busy one).

Here the process joins each watched app's group once, with the one channel `AppFeed.channel`
read by one task. An announcement arrives once, its frame is encoded once, and it is handed to
each subscribed socket of that app in turn (`feed_event`): a direct send, no task, no wait.

- **Subscribe before reading.** `subscribe` returns once Redis has this process in the app's
  group, so a socket that then reads stored events (agents.consumers) misses nothing published
  after; what arrives meanwhile waits in the socket.
- **One membership per process and app.** The first socket of an app joins the group, the last
  one leaving discards it. Group changes go to Redis one at a time, in order, so a leave and a
  join of the same app never cross there.
- **Kept alive.** channels_redis drops a group member after `group_expiry` (a day); the feed
  adds its groups again every MGX_WS_HEARTBEAT_SECONDS, so a page open for days keeps hearing.
- **Redis lost.** When the feed's read fails, or Redis answers with another run_id than the one
  the feed joined under (a restart too quick for the read to notice: announcements were lost,
  and groups may be gone), every socket subscribed here is told (`feed_lost`): the event sockets
  close with code 4503, and the pages reconnect, replay from their last seen event and join
  again once Redis answers.

Subscribers are objects with `kinds` (the announcement kinds they forward; the feed hands them
nothing else), `async feed_event(kind, data, frame)` (frame: the encoded `{"kind", "data"}`),
which must not wait on anything but the socket's own send, and `async feed_lost()`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import weakref

from channels.layers import get_channel_layer
from django.conf import settings

from .announce import app_group

log = logging.getLogger(__name__)


class AppFeed:
    """This process's subscriptions (one per event loop: Daphne runs one)."""

    def __init__(self, layer):
        self.layer = layer
        self.channel: str | None = None
        self.subscribers: dict[str, set] = {}
        # slug -> the epoch in which Redis got this process into the app's group. An epoch ends
        # when Redis is lost: a membership of an older one may be gone.
        self.joined: dict[str, int] = {}
        self.epoch = 0
        self.run_id: str | None = None
        self._changes = asyncio.Lock()  # group changes, one at a time and in order
        self._reader: asyncio.Task | None = None
        self._refresher: asyncio.Task | None = None

    # ------------------------------------------------------------ subscribers

    async def subscribe(self, slug: str, subscriber) -> None:
        """Hand `subscriber` the app's announcements from now on. Returns once Redis has this
        process in the app's group; raises (and subscribes nothing) when Redis cannot be reached."""
        self.subscribers.setdefault(slug, set()).add(subscriber)
        try:
            if self.joined.get(slug) != self.epoch:
                async with self._changes:
                    if self.joined.get(slug) != self.epoch:
                        if self.channel is None:
                            # The default prefix, as every other channel of this process: channels_redis
                            # keeps one Redis key per process *and prefix*, and whichever receive holds
                            # its lock reads only its own key, so a channel of another prefix starved
                            # the others (a log viewer heard nothing while the feed waited for events).
                            self.channel = await self.layer.new_channel()
                        if self.run_id is None:
                            self.run_id = await self._redis_run_id()
                        epoch = self.epoch
                        await self.layer.group_add(app_group(slug), self.channel)
                        self.joined[slug] = epoch
        except BaseException:
            self._forget(slug, subscriber)
            raise
        self._start()

    async def unsubscribe(self, slug: str, subscriber) -> None:
        """Nothing more for `subscriber`; the app's group is left when it was the app's last."""
        if not self._forget(slug, subscriber) or slug not in self.joined:
            return
        async with self._changes:
            if slug in self.subscribers or slug not in self.joined:  # joined again meanwhile
                return
            del self.joined[slug]
            try:
                await self.layer.group_discard(app_group(slug), self.channel)
            except Exception as exc:  # Redis away: the membership runs out (group_expiry)
                log.warning("could not leave %s: %s", app_group(slug), exc)

    def _forget(self, slug: str, subscriber) -> bool:
        """Drop the subscriber; True when it was the app's last one here."""
        subscribers = self.subscribers.get(slug)
        if subscribers is None:
            return False
        subscribers.discard(subscriber)
        if subscribers:
            return False
        del self.subscribers[slug]
        return True

    def watching(self, slug: str) -> int:
        return len(self.subscribers.get(slug, ()))

    # ------------------------------------------------------------ reading and fanning out

    def _start(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read())
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.ensure_future(self._refresh())

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("the app feed lost Redis (%s); closing %d event sockets so they reconnect and replay",
                            exc, sum(map(len, self.subscribers.values())))
                await self._lost()
                if not self.subscribers:
                    return  # the next subscribe starts reading again
                await asyncio.sleep(1)  # sockets that subscribed meanwhile: try again
                continue
            await self._fan_out(message)

    async def _fan_out(self, message: dict) -> None:
        subscribers = self.subscribers.get(message.get("slug"))
        if not subscribers:
            return
        kind, data = message.get("kind"), message.get("data")
        frame = None
        for subscriber in tuple(subscribers):
            if kind not in subscriber.kinds:
                continue
            if frame is None:  # encoded once for every socket of the app
                frame = json.dumps({"kind": kind, "data": data})
            try:
                await subscriber.feed_event(kind, data, frame)
            except Exception:  # one socket's failure is not the others'
                log.exception("forwarding %s to an event socket failed", kind)

    async def _lost(self) -> None:
        """Redis was lost: whatever was announced meanwhile did not come here, and the groups
        this process joined may be gone. Every subscriber is told; memberships are redone."""
        self.epoch += 1
        self.run_id = None
        for subscribers in list(self.subscribers.values()):
            for subscriber in tuple(subscribers):
                try:
                    await subscriber.feed_lost()
                except Exception:
                    log.exception("telling an event socket that the feed was lost failed")

    # ------------------------------------------------------------ keeping the memberships

    async def _refresh(self) -> None:
        while self.subscribers or self.joined:
            await asyncio.sleep(settings.MGX_WS_HEARTBEAT_SECONDS)
            try:
                await self.refresh()
            except Exception as exc:  # Redis away: the read notices and tells the sockets
                log.warning("could not refresh the app feed's groups: %s", exc)

    async def refresh(self) -> None:
        """Add this process to its groups again (channels_redis drops members after a day), and
        if Redis restarted since they were joined, tell every subscriber."""
        run_id = await self._redis_run_id()
        if self.run_id is not None and run_id is not None and run_id != self.run_id:
            log.warning("Redis restarted (run_id %s -> %s): closing %d event sockets so they reconnect and replay",
                        self.run_id, run_id, sum(map(len, self.subscribers.values())))
            await self._lost()
        async with self._changes:
            for slug, epoch in list(self.joined.items()):
                if epoch == self.epoch and slug in self.subscribers:
                    await self.layer.group_add(app_group(slug), self.channel)

    async def _redis_run_id(self) -> str | None:
        """Redis's run_id (new at every start); None for a layer that is not channels_redis, or a
        Redis that does not say (then only a failed read tells that Redis was lost)."""
        connection = getattr(self.layer, "connection", None)
        if connection is None:
            return None
        try:
            info = await connection(0).info("server")
        except Exception as exc:  # INFO refused (a managed Redis), or Redis away: the read will tell
            log.debug("no Redis run_id: %s", exc)
            return None
        return info.get("run_id")


_FEEDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def app_feed() -> AppFeed:
    """The running event loop's feed."""
    loop = asyncio.get_running_loop()
    feed = _FEEDS.get(loop)
    if feed is None:
        feed = _FEEDS[loop] = AppFeed(get_channel_layer())
    return feed
