"""Listen to an app's group on the real channel layer, as the session page's socket does, and
wait (with a deadline) for the next announcement of one kind."""
import asyncio
import time
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from core.announce import app_group


class Heard:
    def __init__(self, layer, channel):
        self.layer, self.channel = layer, channel

    def next(self, kind: str, *, within: float = 10) -> dict:
        """The data of the next announcement of `kind` (others are skipped)."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = async_to_sync(self._receive)(left)
            except asyncio.TimeoutError:
                break
            if message.get("kind") == kind:
                return message["data"]
        raise AssertionError(f"no {kind} announcement within {within} s")

    def kinds(self, *, within: float = 1) -> list[str]:
        """Every kind heard until nothing more comes for `within` seconds."""
        out = []
        while True:
            try:
                out.append(async_to_sync(self._receive)(within).get("kind"))
            except asyncio.TimeoutError:
                return out

    async def _receive(self, timeout: float) -> dict:
        return await asyncio.wait_for(self.layer.receive(self.channel), timeout)


@contextmanager
def listening(slug: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(app_group(slug), channel)
    try:
        yield Heard(layer, channel)
    finally:
        async_to_sync(layer.group_discard)(app_group(slug), channel)
