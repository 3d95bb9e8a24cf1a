"""The builtin driver: the route table is a Redis hash that the apps gateway (nginx with MGX's Lua
module, nginx.py) reads, and the keys and channels MGX and the gateway share through Redis."""
from __future__ import annotations

import json

import redis

from . import GatewayError, Route

ROUTES_KEY = "mgx:gateway:routes"
CHANGED_CHANNEL = "mgx:gateway:changed"  # the proxies drop their cached table when told
# "session:<key>" / "token:<access token id>": the gateway drops the dev-preview decisions that
# session or token backed, so a logout or a revocation closes the preview at once.
AUTH_CHANNEL = "mgx:gateway:auth"
AUTH_EPOCH_KEY = "mgx:gateway:auth:epoch"  # bumped on every invalidation; read per dev request
# The last time (Unix seconds) anyone asked for an app's dev preview, written by the gateway at
# most every SEEN_EVERY seconds; deployments.services.dev_reap_idle stops what nobody asks for.
SEEN_KEY = "mgx:dev:seen:{slug}"
SEEN_EVERY = 10.0
# The largest websocket message the gateway relays (either way): a bigger one closes that
# socket. Unbounded, one app's code could make the gateway, which every app's preview goes
# through, carry a message of any size.
WS_MAX_MESSAGE = 16 * 1024 * 1024


class BuiltinGateway:
    def __init__(self, redis_url: str):
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)

    def set_route(self, route: Route) -> None:
        try:
            self.redis.hset(ROUTES_KEY, route.id, json.dumps(route.as_dict()))
            self.redis.publish(CHANGED_CHANNEL, route.id)
        except redis.RedisError as exc:
            raise GatewayError(f"Could not store the route {route.id}: Redis did not answer ({type(exc).__name__}).") from exc

    def delete_route(self, route_id: str) -> None:
        try:
            self.redis.hdel(ROUTES_KEY, route_id)
            self.redis.publish(CHANGED_CHANNEL, route_id)
        except redis.RedisError as exc:
            raise GatewayError(f"Could not remove the route {route_id}: Redis did not answer ({type(exc).__name__}).") from exc

    def routes(self) -> dict[str, Route]:
        raw = self.redis.hgetall(ROUTES_KEY)
        return {k.decode(): Route(**json.loads(v)) for k, v in raw.items()}


def auth_invalidate(*, redis_url: str, session_key: str | None = None, token_id: int | None = None) -> None:
    """Tell every gateway process that a session ended or a token was revoked. Best effort: with
    Redis away the gateway is not listening either, and then it caches no decision at all."""
    messages = ([f"session:{session_key}"] if session_key else []) + ([f"token:{token_id}"] if token_id is not None else [])
    if not messages:
        return
    client = _publisher(redis_url)
    try:
        client.incr(AUTH_EPOCH_KEY)
        for message in messages:
            client.publish(AUTH_CHANNEL, message)
    except redis.RedisError:
        pass


_PUBLISHERS: dict[str, redis.Redis] = {}


def _publisher(redis_url: str) -> redis.Redis:
    if redis_url not in _PUBLISHERS:
        _PUBLISHERS[redis_url] = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    return _PUBLISHERS[redis_url]
