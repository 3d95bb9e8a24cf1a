from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from sessions_app.consumers import AppEventsConsumer

from .selectors import events_since


class AgentEventsConsumer(AppEventsConsumer):
    """The chat's event stream: first every stored event after `?after=<seq>`, then live ones.

    The socket subscribes to the app's feed before the stored events are read, so nothing
    published meanwhile is missed; live events that arrive meanwhile wait until the stored ones
    are sent (core.consumers), and anything at or below the last seq already sent is dropped, so
    nothing is sent twice."""

    kinds = ("agent.event",)

    async def after_join(self):
        try:
            self.last_seq = max(0, int(parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        while True:
            batch = await database_sync_to_async(events_since)(session=self.slug, after_seq=self.last_seq, limit=500)
            for event in batch:
                await self.send_json({"kind": "agent.event", "data": event.as_dict()})
                self.last_seq = event.seq
            if len(batch) < 500:
                break

    async def forward(self, kind, data, frame):
        if data["seq"] <= self.last_seq:
            return
        self.last_seq = data["seq"]
        await self.base_send({"type": "websocket.send", "text": frame})
