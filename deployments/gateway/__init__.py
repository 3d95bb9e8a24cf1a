"""Routes for /apps/<slug>/dev|prod/ behind one interface with two drivers.

`builtin` keeps the route table in Redis and serves it with MGX's own gateway process on the
apps origin (`gateway.server`, `gateway.proxy`); `apisix` writes the same routes to Apache APISIX through its Admin API v3.
Callers only use `gateway()` and the three methods; which driver runs is `MGX_GATEWAY`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol


class GatewayError(Exception):
    """The gateway could not be updated; the message is safe to show."""


@dataclass(frozen=True)
class Route:
    id: str  # "<slug>-dev" / "<slug>-prod"
    prefix: str  # "/apps/<slug>/dev/"; the prefix is kept when proxying
    upstream: str  # "127.0.0.1:49153"

    def as_dict(self) -> dict:
        return {"id": self.id, "prefix": self.prefix, "upstream": self.upstream}


def route_id(*, slug: str, stage: str) -> str:
    """The one name of an app's route: the gateway looks it up by it, the drivers store it."""
    return f"{slug}-{stage}"


def route_for(*, slug: str, stage: str, upstream: str) -> Route:
    return Route(id=route_id(slug=slug, stage=stage), prefix=f"/apps/{slug}/{stage}/", upstream=upstream)


class Gateway(Protocol):
    def set_route(self, route: Route) -> None: ...

    def delete_route(self, route_id: str) -> None: ...

    def routes(self) -> dict[str, Route]: ...


@lru_cache(maxsize=1)
def gateway() -> Gateway:
    from django.conf import settings

    if settings.MGX_GATEWAY == "apisix":
        from .apisix import ApisixGateway

        return ApisixGateway(settings.MGX_APISIX_ADMIN_URL, settings.MGX_APISIX_ADMIN_KEY)
    if settings.MGX_GATEWAY != "builtin":
        raise GatewayError(f"Unknown MGX_GATEWAY '{settings.MGX_GATEWAY}': use 'builtin' or 'apisix'.")
    from .builtin import BuiltinGateway

    return BuiltinGateway(settings.MGX_REDIS_URL)
