"""Websocket consumers every app builds on: the app's event group with heartbeats, and the
diagnostic echo socket."""
from __future__ import annotations

import asyncio
import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from .announce import app_group


class AppGroupConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one app (`/ws/apps/<slug>/...`). Subclasses say who may listen
    (`may_listen`), which announcement kinds they forward (`kinds`; nothing else reaches the
    browser, so a page with two sockets never gets an event twice) and what happens after
    joining (`after_join`)."""

    kinds: tuple[str, ...] = ()

    async def may_listen(self, user, slug: str) -> bool:
        raise NotImplementedError

    async def connect(self):
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        if not (user and user.is_authenticated and await self.may_listen(user, self.slug)):
            await self.close(code=4403)
            return
        self.joined = True
        await self.channel_layer.group_add(app_group(self.slug), self.channel_name)
        await self.accept()
        self.beat = asyncio.ensure_future(self.heartbeat())
        await self.after_join()

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
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(app_group(self.slug), self.channel_name)

    async def dispatch(self, message):
        # Channels hops to a thread before every handler to close stale DB connections: for a
        # live event that is one thread hop per viewer per event (measured, bench/load.py: 200
        # viewers of one app spent most of Daphne's time there, p99 ~1 s). Forwarding an event
        # touches no database, and every DB call here goes through database_sync_to_async, which
        # closes stale connections itself; the other messages keep Channels' default.
        if message.get("type") == "app.event":
            return await self.app_event(message)
        return await super().dispatch(message)

    async def app_event(self, event):
        if event["kind"] in self.kinds:
            await self.forward(event)

    async def forward(self, event):
        await self.send_json({"kind": event["kind"], "data": event["data"]})


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
