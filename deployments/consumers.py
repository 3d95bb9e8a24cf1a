import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from django.conf import settings

from mgx_site.announce import app_group


@database_sync_to_async
def _may_use(user, slug) -> bool:
    from sessions_app.models import App

    app = App.objects.filter(slug=slug).first()
    return bool(app and app.can_be_used_by(user))


class AppEventsConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one app (dev status, agent events): only its owner or an MGX admin may
    listen. Subclasses add what happens after joining (`joined`) and which kinds they forward."""

    kinds: tuple[str, ...] = ()  # empty: every kind

    async def connect(self):
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        if not (user and user.is_authenticated and await _may_use(user, self.slug)):
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

    async def app_event(self, event):
        if not self.kinds or event["kind"] in self.kinds:
            await self.forward(event)

    async def forward(self, event):
        await self.send_json({"kind": event["kind"], "data": event["data"]})
