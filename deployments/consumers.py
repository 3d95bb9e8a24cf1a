from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mgx_site.announce import app_group


@database_sync_to_async
def _may_use(user, slug) -> bool:
    from sessions_app.models import App

    app = App.objects.filter(slug=slug).first()
    return bool(app and app.can_be_used_by(user))


class AppEventsConsumer(AsyncJsonWebsocketConsumer):
    """Live events of one app (dev status now; builds, logs and agent events later)."""

    async def connect(self):
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        if not (user and user.is_authenticated and await _may_use(user, self.slug)):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(app_group(self.slug), self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "slug"):
            await self.channel_layer.group_discard(app_group(self.slug), self.channel_name)

    async def app_event(self, event):
        await self.send_json({"kind": event["kind"], "data": event["data"]})
