"""Open websockets per user (MGX_MAX_SOCKETS_PER_USER), across every MGX socket and every Daphne.

Each socket of a logged-in person holds a lease in Redis while it is open: a member of the
sorted set `mgx:sockets:user:<id>` whose score is when the lease runs out. Taking one is a
script (atomic, on Redis's own clock, so every Daphne instance counts alike): drop the leases
that ran out, refuse when as many as the limit remain, else add this one. Each Daphne renews the
leases of its open sockets every third of MGX_SOCKET_LEASE_SECONDS and removes a socket's lease
when it closes; a Daphne that dies without closing its sockets renews nothing, so their leases
run out and stop counting.

A refused socket is accepted, told why in one frame (`{"kind": "refused", "data": {"message"}}`:
Daphne sends no close reason, and a handshake refusal reaches a page as a bare error), then
closed with code 4429; the pages show the message and try again later. Anonymous sockets are
not counted here: every MGX socket refuses them anyway.

Admins are not exempt: their browsers hold sockets like anyone's (raise the limit for everyone
instead). If Redis does not answer, sockets are let through, as nothing else works then either
(the channel layer lives there too), rather than refused for a bookkeeping failure.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSE_CODE = 4429

_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + ttl, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 1)
return 1
"""

# A lease that ran out while its socket lived (a Daphne stalled past the lease) is put back:
# the socket is there, so it counts.
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, t + ttl, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(ttl) + 1)
end
return #KEYS
"""


def lease_key(user_id) -> str:
    return f"mgx:sockets:user:{user_id}"


class Leases:
    """This process's leases: taken, renewed by one task, released."""

    def __init__(self):
        self._redis = None
        self._loop = None
        self._held: dict[str, str] = {}  # lease id -> key
        self._renewer: asyncio.Task | None = None

    def _client(self):
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(settings.MGX_REDIS_URL, socket_timeout=5,
                                                       socket_connect_timeout=5)
            self._loop, self._renewer = loop, None
        return self._redis

    async def take(self, user_id, limit: int) -> str | None:
        """A lease id, or None when the user holds `limit` already. Raises redis errors."""
        lease, key = uuid.uuid4().hex, lease_key(user_id)
        taken = await self._client().eval(_TAKE, 1, key, limit, lease, settings.MGX_SOCKET_LEASE_SECONDS)
        if not taken:
            return None
        self._held[lease] = key
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew_forever())
        return lease

    async def give_back(self, lease: str) -> None:
        key = self._held.pop(lease, None)
        if key is not None:
            await self._client().zrem(key, lease)

    async def renew(self) -> None:
        held = dict(self._held)
        if held:
            await self._client().eval(_RENEW, len(held), *held.values(), settings.MGX_SOCKET_LEASE_SECONDS,
                                      *held.keys())

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(settings.MGX_SOCKET_LEASE_SECONDS / 3)
            try:
                await self.renew()
            except Exception as exc:  # Redis away for a moment: the next round tries again
                logger.warning("could not renew %d socket leases: %s", len(self._held), exc)


LEASES = Leases()


def refusal_message(limit: int) -> str:
    return (f"Too many open connections: MGX keeps at most {limit} live connections per person "
            f"(MGX_MAX_SOCKETS_PER_USER). Close some MGX tabs or windows; this one tries again by itself.")


class SocketLimit:
    """ASGI middleware around MGX's websocket routes (mgx_site.asgi), after authentication."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        limit = settings.MGX_MAX_SOCKETS_PER_USER
        if scope["type"] != "websocket" or not limit or user is None or not user.is_authenticated:
            return await self.app(scope, receive, send)
        try:
            lease = await LEASES.take(user.pk, limit)
        except Exception as exc:
            logger.warning("socket limit not checked (Redis: %s); letting the socket through", exc)
            return await self.app(scope, receive, send)
        if lease is None:
            return await self._refuse(receive, send, limit)
        try:
            return await self.app(scope, receive, send)
        finally:
            try:
                await asyncio.shield(LEASES.give_back(lease))
            except Exception as exc:  # the lease runs out by itself
                logger.warning("socket lease not given back (Redis: %s)", exc)

    @staticmethod
    async def _refuse(receive, send, limit: int) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send",
                    "text": json.dumps({"kind": "refused", "data": {"message": refusal_message(limit)}})})
        await send({"type": "websocket.close", "code": CLOSE_CODE})
