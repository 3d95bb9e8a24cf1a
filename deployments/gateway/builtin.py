"""The builtin driver: the route table is a Redis hash that the apps gateway (nginx with MGX's Lua
module, nginx.py) reads, and the keys and channels MGX and the gateway share through Redis."""
from __future__ import annotations

import json
import secrets
import time

import redis

from . import GatewayError, Route

ROUTES_KEY = "mgx:gateway:routes"
CHANGED_CHANNEL = "mgx:gateway:changed"  # the proxies drop their cached table when told
# "session:<key> <nonce>" / "token:<access token id> <nonce>": every gateway worker that hears it
# drops its cached dev-preview decisions, then pushes one item onto AUTH_ACK_KEY:<nonce>, so a
# logout or a revocation answers only once no gateway can open a preview on what it ended.
AUTH_CHANNEL = "mgx:gateway:auth"
AUTH_ACK_KEY = "mgx:gateway:auth:ack"
AUTH_ACK_WAIT = 1.0  # seconds a logout waits at most for the gateways (one that died says nothing)
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


def auth_invalidate(*, redis_url: str, session_key: str | None = None, token_id: int | None = None,
                    wait: float = AUTH_ACK_WAIT) -> int:
    """Tell every gateway worker that a session ended or a token was revoked, and wait (at most
    `wait` seconds) until each one that heard it has dropped its cached decisions. Returns how
    many said so. Best effort: with Redis away the gateways are not listening either, and a
    worker that does not listen caches no decision at all."""
    messages = ([f"session:{session_key}"] if session_key else []) + ([f"token:{token_id}"] if token_id is not None else [])
    if not messages:
        return 0
    client = _publisher(redis_url)
    nonce = secrets.token_hex(8)
    ack = f"{AUTH_ACK_KEY}:{nonce}"
    done = 0
    try:
        heard = sum(client.publish(AUTH_CHANNEL, f"{message} {nonce}") for message in messages)
        deadline = time.monotonic() + wait
        while done < heard and (left := deadline - time.monotonic()) > 0.001:
            if client.blpop([ack], timeout=left) is None:
                break
            done += 1
        client.delete(ack)
    except redis.RedisError:
        pass
    return done


_PUBLISHERS: dict[str, redis.Redis] = {}


def _publisher(redis_url: str) -> redis.Redis:
    if redis_url not in _PUBLISHERS:
        _PUBLISHERS[redis_url] = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    return _PUBLISHERS[redis_url]
