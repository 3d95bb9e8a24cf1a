"""Live container output: `/ws/apps/<slug>/logs/<role>/` (the Logs tab) and
`/ws/apps/<slug>/terminal/<role>/` (the read-only terminal). Both join the container's shared
stream (deployments.logs); neither ever sends anything to the container.

Frames to the browser: {"kind": "lines", "data": {"lines": [{"ts", "line"}], "replay": bool}},
{"kind": "end", "data": {"message"}} when the container stops (or is not running),
{"kind": "refused", "data": {"message"}} for an input frame, and heartbeats.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async

from core.consumers import AppGroupConsumer
from core.errors import MgxError
from sessions_app.selectors import app_for_user, app_usable_by

from . import logs

STOPPED = "The container stopped; its output ends here."
NOT_RUNNING = "The container is not running."
READ_ONLY = "This view is read-only: input is never sent to the container."


class ContainerOutputConsumer(AppGroupConsumer):
    """Owner or MGX admin only (the app's rule). The recent lines first, then live ones."""

    kinds: tuple[str, ...] = ()
    default_tail = 100
    # The container's stream sends its lines to a channel of this socket's own (deployments.logs).
    channel_layer_alias = DEFAULT_CHANNEL_LAYER

    async def may_listen(self, user, slug: str) -> bool:
        return await database_sync_to_async(app_usable_by)(user=user, slug=slug)

    async def after_join(self):
        role = self.scope["url_route"]["kwargs"]["role"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            tail = int((query.get("tail") or [self.default_tail])[0])
        except ValueError:
            tail = self.default_tail
        self.after = ""
        self.source = None
        try:
            app = await database_sync_to_async(app_for_user)(user=self.scope["user"], slug=self.slug)
            source = (await sync_to_async(logs.log_sources)(app=app, target=role))[0]
        except MgxError as exc:
            await self.send_json({"kind": "end", "data": {"message": str(exc)}})
            return
        # Join first, then read the recent lines: nothing printed in between is lost, and what
        # arrives twice is dropped by its timestamp (live lines wait until this returns).
        following = await logs.stream_join(source=source, channel_name=self.channel_name)
        if following:
            self.source = source
        recent = await sync_to_async(logs.log_tail)(source=source, tail=tail)
        if recent:
            self.after = recent[-1]["ts"]
        await self.send_json({"kind": "lines", "data": {"lines": recent, "replay": True}})
        if not following:
            await self.send_json({"kind": "end", "data": {"message": NOT_RUNNING}})

    async def log_lines(self, event):
        lines = [line for line in event["lines"] if line["ts"] > self.after]
        if lines:
            await self.send_json({"kind": "lines", "data": {"lines": lines, "replay": False}})

    async def log_end(self, event):
        self.source = None  # the stream is gone already
        await self.send_json({"kind": "end", "data": {"message": STOPPED}})

    async def receive(self, text_data=None, bytes_data=None):
        # Nothing a browser sends goes anywhere: the container was started without stdin and
        # this socket has no way to it. Said once per frame, so a script notices.
        await self.send_json({"kind": "refused", "data": {"message": READ_ONLY}})

    async def disconnect(self, code):
        if getattr(self, "source", None) is not None:
            await logs.stream_leave(source=self.source, channel_name=self.channel_name)
        await super().disconnect(code)


class LogsConsumer(ContainerOutputConsumer):
    default_tail = 200


class TerminalConsumer(ContainerOutputConsumer):
    # A reconnecting terminal shows the recent screenful again.
    default_tail = 500
