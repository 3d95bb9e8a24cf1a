"""The APISIX driver against a local Admin API v3 server that checks every request against the
documented shapes (X-API-KEY, PUT 201 on create / 200 on update, {"key","value"} bodies,
DELETE 404 on a missing id, {"total","list"} listings)."""
import asyncio
import re
import threading

import pytest
from aiohttp import web

from deployments.gateway import GatewayError, route_for
from deployments.gateway.apisix import ApisixGateway

from .upstream import free_port

KEY = "edd1c9f034335f136f87ad84b625c8f1"
ID_RE = re.compile(r"^[a-zA-Z0-9-_.]{1,64}$")
UPSTREAM_TYPES = {"roundrobin", "chash", "ewma", "least_conn"}


class FakeAdminApi:
    def __init__(self):
        self.port = free_port()
        self.routes: dict[str, dict] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.loop = asyncio.new_event_loop()

    def _reply(self, request, status, body):
        self.calls.append((request.method, request.path, status))
        return web.json_response(body, status=status)

    async def route(self, request: web.Request):
        if request.headers.get("X-API-KEY") != KEY:
            return self._reply(request, 401, {"error_msg": "failed to check token"})
        route_id = request.match_info.get("id")
        if request.method == "GET" and route_id is None:
            items = [{"key": f"/apisix/routes/{k}", "value": v, "createdIndex": 1, "modifiedIndex": 1} for k, v in self.routes.items()]
            return self._reply(request, 200, {"total": len(items), "list": items})
        if not ID_RE.match(route_id or ""):
            return self._reply(request, 400, {"error_msg": "invalid route id"})
        if request.method == "DELETE":
            if route_id not in self.routes:
                return self._reply(request, 404, {"message": "Key not found"})
            del self.routes[route_id]
            return self._reply(request, 200, {"key": f"/apisix/routes/{route_id}", "deleted": "1"})
        if request.method == "PUT":
            body = await request.json()
            problems = []
            if not isinstance(body.get("uri"), str) or not body["uri"].startswith("/"):
                problems.append("uri")
            upstream = body.get("upstream") or {}
            if upstream.get("type") not in UPSTREAM_TYPES:
                problems.append("upstream.type")
            nodes = upstream.get("nodes")
            if not isinstance(nodes, dict) or not nodes or not all(re.match(r"^[\w.-]+:\d+$", n) and isinstance(w, int) for n, w in nodes.items()):
                problems.append("upstream.nodes")
            if "enable_websocket" in body and not isinstance(body["enable_websocket"], bool):
                problems.append("enable_websocket")
            if problems:
                return self._reply(request, 400, {"error_msg": f"invalid configuration: {', '.join(problems)}"})
            created = route_id not in self.routes
            self.routes[route_id] = {**body, "id": route_id}
            return self._reply(request, 201 if created else 200, {"key": f"/apisix/routes/{route_id}", "value": self.routes[route_id]})
        return self._reply(request, 405, {"error_msg": "method not allowed"})

    def start(self):
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            app = web.Application()
            app.router.add_route("*", "/apisix/admin/routes", self.route)
            app.router.add_route("*", "/apisix/admin/routes/{id}", self.route)
            runner = web.AppRunner(app)
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self


@pytest.fixture
def admin():
    return FakeAdminApi().start()


def test_routes_are_created_updated_listed_and_deleted_in_the_documented_shapes(admin):
    gw = ApisixGateway(f"http://127.0.0.1:{admin.port}", KEY)
    gw.set_route(route_for(slug="shop", stage="dev", upstream="127.0.0.1:41000"))
    gw.set_route(route_for(slug="shop", stage="dev", upstream="127.0.0.1:41001"))

    assert [c[2] for c in admin.calls] == [201, 200]
    stored = admin.routes["shop-dev"]
    assert stored["uri"] == "/apps/shop/dev/*" and stored["enable_websocket"] is True
    assert stored["upstream"] == {"type": "roundrobin", "nodes": {"127.0.0.1:41001": 1}, "pass_host": "pass"}

    listed = gw.routes()
    assert listed["shop-dev"].prefix == "/apps/shop/dev/" and listed["shop-dev"].upstream == "127.0.0.1:41001"

    gw.delete_route("shop-dev")
    gw.delete_route("shop-dev")  # already gone: APISIX says 404, which is fine
    assert admin.calls[-2:] == [("DELETE", "/apisix/admin/routes/shop-dev", 200), ("DELETE", "/apisix/admin/routes/shop-dev", 404)]
    assert gw.routes() == {}


def test_a_wrong_admin_key_is_reported_not_ignored(admin):
    gw = ApisixGateway(f"http://127.0.0.1:{admin.port}", "wrong-key")
    with pytest.raises(GatewayError) as refused:
        gw.set_route(route_for(slug="shop", stage="prod", upstream="127.0.0.1:41000"))
    assert "HTTP 401" in str(refused.value)
    assert admin.routes == {}


def test_an_unreachable_admin_api_is_a_clear_error():
    gw = ApisixGateway(f"http://127.0.0.1:{free_port()}", KEY, timeout=2)
    with pytest.raises(GatewayError) as refused:
        gw.set_route(route_for(slug="shop", stage="prod", upstream="127.0.0.1:41000"))
    assert "did not answer" in str(refused.value)
