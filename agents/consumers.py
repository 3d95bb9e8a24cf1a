from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from deployments.consumers import _may_use
from mgx_site.announce import app_group

from .selectors import events_since


class AgentEventsConsumer(AsyncJsonWebsocketConsumer):
    """The chat's event stream: first every stored event after `?after=<seq>`, then live ones.

    The group is joined before the stored events are read, so nothing published meanwhile is
    missed; Channels hands this consumer its group messages only after connect() returns, and
    anything at or below the last seq already sent is dropped, so nothing is sent twice."""

    async def connect(self):
        self.slug = self.scope["url_route"]["kwargs"]["slug"]
        user = self.scope.get("user")
        if not (user and user.is_authenticated and await _may_use(user, self.slug)):
            await self.close(code=4403)
            return
        try:
            self.last_seq = max(0, int(dict(_query(self.scope)).get("after", "0")))
        except ValueError:
            self.last_seq = 0
        await self.channel_layer.group_add(app_group(self.slug), self.channel_name)
        await self.accept()
        while True:
            batch = await database_sync_to_async(events_since)(session=self.slug, after_seq=self.last_seq, limit=500)
            for event in batch:
                await self.send_json({"kind": "agent.event", "data": event.as_dict()})
                self.last_seq = event.seq
            if len(batch) < 500:
                break

    async def disconnect(self, code):
        if hasattr(self, "last_seq"):
            await self.channel_layer.group_discard(app_group(self.slug), self.channel_name)

    async def app_event(self, event):
        if event["kind"] != "agent.event" or event["data"]["seq"] <= self.last_seq:
            return
        self.last_seq = event["data"]["seq"]
        await self.send_json({"kind": "agent.event", "data": event["data"]})


def _query(scope):
    from urllib.parse import parse_qsl

    return parse_qsl(scope.get("query_string", b"").decode())
