"""The APISIX driver: routes through the Admin API v3 (`/apisix/admin/routes/<id>`, `X-API-KEY`).

Each route matches `<prefix>*` (the prefix is not stripped: apps know their base path), passes
websockets (Vite/Next HMR) and balances round-robin over the one container port.
"""
from __future__ import annotations

import requests

from . import GatewayError, Route


class ApisixGateway:
    def __init__(self, admin_url: str, api_key: str, *, timeout: float = 5.0):
        self.base = admin_url.rstrip("/") + "/apisix/admin/routes"
        self.headers = {"X-API-KEY": api_key}
        self.timeout = timeout

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return requests.request(method, url, headers=self.headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise GatewayError(f"APISIX Admin API at {self.base} did not answer: {type(exc).__name__}.") from exc

    def set_route(self, route: Route) -> None:
        body = {
            "name": route.id,
            "uri": route.prefix + "*",
            "enable_websocket": True,
            "upstream": {"type": "roundrobin", "nodes": {route.upstream: 1}, "pass_host": "pass"},
            "labels": {"managed_by": "mgx"},
        }
        response = self._call("PUT", f"{self.base}/{route.id}", json=body)
        if response.status_code not in (200, 201):
            raise GatewayError(f"APISIX refused route {route.id}: HTTP {response.status_code} {response.text[:300]}")

    def delete_route(self, route_id: str) -> None:
        response = self._call("DELETE", f"{self.base}/{route_id}")
        if response.status_code not in (200, 404):  # already gone is fine
            raise GatewayError(f"APISIX refused to delete route {route_id}: HTTP {response.status_code} {response.text[:300]}")

    def routes(self) -> dict[str, Route]:
        response = self._call("GET", self.base)
        if response.status_code != 200:
            raise GatewayError(f"APISIX refused to list routes: HTTP {response.status_code}")
        found = {}
        for item in response.json().get("list") or []:
            value = item.get("value") or {}
            if (value.get("labels") or {}).get("managed_by") != "mgx":
                continue
            nodes = (value.get("upstream") or {}).get("nodes") or {}
            upstream = next(iter(nodes)) if isinstance(nodes, dict) and nodes else ""
            route_id = value.get("id") or item.get("key", "").rsplit("/", 1)[-1]
            found[route_id] = Route(id=route_id, prefix=value.get("uri", "").rstrip("*"), upstream=upstream)
        return found
