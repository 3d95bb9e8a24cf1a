"""Routes for /apps/<slug>/dev|prod/ behind one interface with two drivers.

`builtin` keeps the route table in Redis, served on the apps origin by nginx with MGX's Lua
module (`gateway.nginx`, `lua/`; MGX's access check for dev previews is `gateway.authd`);
`apisix` writes the same routes to Apache APISIX through its Admin API v3.
Callers only use `gateway()` and the three methods; which driver runs is `MGX_GATEWAY`.
"""
from __future__ import annotations

import ipaddress
import re
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


SLUG = re.compile(r"[a-z0-9-]+")  # the slug rule (sessions_app.models.validate_slug allows no more)
UPSTREAM = re.compile(r"(?P<v4>\d+\.\d+\.\d+\.\d+):(?P<p4>\d+)|\[(?P<v6>[0-9a-fA-F:]+)\]:(?P<p6>\d+)")


def route_id(*, slug: str, stage: str) -> str:
    """The one name of an app's route: the gateway looks it up by it, the drivers store it."""
    if not SLUG.fullmatch(slug or "") or stage not in ("dev", "prod"):
        raise GatewayError(f"No route for {slug!r}/{stage!r}: a route names an app by its slug ([a-z0-9-]) and dev or prod.")
    return f"{slug}-{stage}"


def upstream_address(upstream: str) -> tuple[str, int]:
    """(address, port) of an upstream as every gateway takes it: an IP address and a port, never
    a name to look up. The builtin gateway's Lua module applies the same rule to what it reads."""
    match = UPSTREAM.fullmatch(upstream or "")
    try:
        host, port = (match["v4"], int(match["p4"])) if match["v4"] else (match["v6"], int(match["p6"]))
        ipaddress.ip_address(host)
    except (TypeError, ValueError):
        raise GatewayError(f"Upstream {upstream!r} is not an IP address and port.") from None
    if not 0 < port < 65536:
        raise GatewayError(f"Upstream {upstream!r} has no valid port.")
    return host, port


def route_for(*, slug: str, stage: str, upstream: str) -> Route:
    """An app's route; its slug, stage and upstream are checked here, so nothing else ever
    reaches a gateway's table (or a configuration language)."""
    upstream_address(upstream)
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
