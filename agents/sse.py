"""An app's agent events as Server-Sent Events, for scripts (`GET /api/apps/<slug>/agent/events`).

The same events the chat shows, in the same order: first every stored event after the client's
last seen sequence number, then live ones from the channel-layer group the chat's websocket
joins. The group is joined before the store is read, so nothing published in between is lost;
anything at or below the last seq sent is dropped, so nothing is sent twice; and a live event
that skips numbers (a publish that failed, a full channel) makes the stream read the gap from
the store first, so a script never misses one.

Everything here awaits (the channel layer's Redis client, the store reads in the shared thread
pool): an idle viewer costs a coroutine and a channel-layer subscription, not a thread.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from core.announce import app_group
from core.asgi_handler import request_thread_release

from .selectors import events_since

BATCH = 500


def sse_event(event: dict) -> str:
    """One event in the wire format: `id` is its seq, so `Last-Event-ID` resumes exactly."""
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def _stored_after(session: str, after: int) -> AsyncIterator[dict]:
    """The stored events after `after`, read a batch at a time (a long history is not held in
    memory). Not thread-sensitive: pymongo is thread-safe, and a stream must not pin a thread."""
    read = sync_to_async(events_since, thread_sensitive=False)
    while True:
        batch = await read(session=session, after_seq=after, limit=BATCH)
        for event in batch:
            yield event.as_dict()
        if len(batch) < BATCH:
            return
        after = batch[-1].seq


async def event_stream(*, session: str, after: int, heartbeat: float) -> AsyncIterator[str]:
    """Stored events after `after`, then live ones, with `: ping` every `heartbeat` idle seconds.
    Runs until the client goes (Django cancels the response when the connection closes)."""
    # The request's thread would otherwise sit idle for hours per viewer (measured: 14 more
    # threads for 12 viewers); no middleware runs once the body is being sent, so it goes back
    # to the pool now (core.asgi_handler).
    request_thread_release()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = app_group(session)
    await layer.group_add(group, channel)
    arrived: asyncio.Queue = asyncio.Queue()

    async def pump():
        # One long-lived receive per stream: cancelling `layer.receive` mid-wait drops the
        # channel's buffer in channels_redis, so the stream waits on this queue instead.
        while True:
            arrived.put_nowait(await layer.receive(channel))

    pumping = asyncio.create_task(pump())
    last = after
    try:
        yield "retry: 2000\n\n"
        async for event in _stored_after(session, last):
            yield sse_event(event)
            last = event["seq"]
        while True:
            try:
                message = await asyncio.wait_for(arrived.get(), timeout=heartbeat)
            except asyncio.TimeoutError:
                if pumping.done():  # the channel layer failed: end, the client reconnects and replays
                    return
                yield ": ping\n\n"
                continue
            if message.get("kind") != "agent.event":
                continue
            event = message["data"]
            if event["seq"] <= last:
                continue
            if event["seq"] > last + 1:
                async with aclosing(_stored_after(session, last)) as missed_events:
                    async for missed in missed_events:
                        if missed["seq"] >= event["seq"]:
                            break
                        yield sse_event(missed)
                        last = missed["seq"]
            yield sse_event(event)
            last = event["seq"]
    finally:
        pumping.cancel()
        try:
            await asyncio.shield(layer.group_discard(group, channel))
        except Exception:  # the group entry expires on its own; a client that left needs nothing
            pass
