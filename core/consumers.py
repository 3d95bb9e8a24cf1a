"""Websocket consumers every app builds on: the app's event group with heartbeats, and the
diagnostic echo socket."""
from __future__ import annotations

import asyncio
import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from .feed import app_feed


# A channel-layer alias that names no layer: Channels then gives a consumer no channel of its
# own (channels.layers.get_channel_layer returns None for an alias that is not configured).
NO_CHANNEL_LAYER = "mgx-none"

# Close code for event sockets whose feed lost Redis: the pages reconnect (and replay) on any
# code but 4403, and autobahn sends only 1000 or 3000-4999.
FEED_LOST = 4503

# Events that arrive while a socket is still sending what it replays (agents.consumers); past
# this many the socket is closed and the page replays on reconnecting instead.
HELD_MAX = 10_000


class AppGroupConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one app (`/ws/apps/<slug>/...`). Subclasses say who may listen
    (`may_listen`), which announcement kinds they forward (`kinds`; nothing else reaches the
    browser, so a page with two sockets never gets an event twice) and what happens after
    joining (`after_join`).

    A consumer with `kinds` hears the app's announcements through this process's feed
    (core.feed: one channel-layer subscription per process and app), not through a channel of
    its own. Events that arrive before `after_join` is done wait, in order, and are forwarded
    right after it."""

    kinds: tuple[str, ...] = ()
    channel_layer_alias = NO_CHANNEL_LAYER

    async def may_listen(self, user, slug: str) -> bool:
        raise NotImplementedError

    async def connect(self):
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        if not (user and user.is_authenticated and await self.may_listen(user, self.slug)):
            await self.close(code=4403)
            return
        self.held: list | None = []
        if self.kinds:
            await app_feed().subscribe(self.slug, self)
            self.subscribed = True
        await self.accept()
        self.beat = asyncio.ensure_future(self.heartbeat())
        await self.after_join()
        while self.held:
            await self.forward(*self.held.pop(0))
        self.held = None

    async def heartbeat(self):
        """A frame every MGX_WS_HEARTBEAT_SECONDS: the browser reconnects when they stop."""
        interval = settings.MGX_WS_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            await self.send_json({"kind": "heartbeat", "data": {"interval": interval}})

    async def after_join(self):
        pass

    async def disconnect(self, code):
        if getattr(self, "beat", None) is not None:
            self.beat.cancel()
        if getattr(self, "subscribed", False):
            self.subscribed = False
            await app_feed().unsubscribe(self.slug, self)

    async def feed_event(self, kind, data, frame):
        """From the feed, for a kind this consumer declares; must not wait on anything but the
        socket's send (the feed hands the event to the app's other sockets after this)."""
        if self.held is None:
            await self.forward(kind, data, frame)
        elif len(self.held) < HELD_MAX:
            self.held.append((kind, data, frame))
        else:
            self.held = []
            await self.feed_lost()

    async def feed_lost(self):
        if not getattr(self, "lost", False):
            self.lost = True
            await self.close(code=FEED_LOST)

    async def forward(self, kind, data, frame):
        """Send one announcement on; `frame` is it encoded as `{"kind", "data"}`."""
        await self.base_send({"type": "websocket.send", "text": frame})


class EchoConsumer(AsyncWebsocketConsumer):
    """Diagnostic socket: proves the websocket path (Daphne, session auth) works end to end."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)  # before accept: the handshake is refused with 403
            return
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=json.dumps({"echo": text_data, "user": self.scope["user"].get_username()}))
