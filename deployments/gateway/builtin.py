"""The builtin driver: the route table is a Redis hash that every Daphne process reads."""
from __future__ import annotations

import json

import redis

from . import GatewayError, Route

ROUTES_KEY = "mgx:gateway:routes"
CHANGED_CHANNEL = "mgx:gateway:changed"  # the proxies drop their cached table when told


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
