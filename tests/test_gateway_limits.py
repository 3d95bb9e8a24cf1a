"""The apps gateway (nginx and its workers) holds no app's or client's bulk in memory: a
request body it does not forward is read and dropped, not kept; one it forwards streams at the
upstream's pace; and an app that sends an enormous websocket message gets its socket closed
(1009) instead of the gateway relaying it (one app must not take the gateway, which every app's
preview goes through, down with it)."""
from __future__ import annotations

import os

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from deployments.gateway import gateway, route_for
from mgx_site.cli import procs
from tests.test_request_limits import MIB, _attack, _rss_kib as _one_rss_kib

pytestmark = pytest.mark.django_db(transaction=True)


def _rss_kib(master: int) -> int:
    """nginx's master and its workers (which hold the connections) together."""
    workers = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == master]
    assert workers, "nginx has no workers"
    return _one_rss_kib(master) + sum(_one_rss_kib(pid) for pid in workers)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(") ", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture
def gateway_pid(live):
    pid = procs.running_pid(live.layout, live.stack["gateway"])
    assert pid is not None
    return pid


@pytest.fixture
def routed(app_factory, user_factory, upstream):
    app = app_factory(owner=user_factory(username="gwlimits"), name="Gw Limits")
    gateway().set_route(route_for(slug=app.slug, stage="prod", upstream=f"127.0.0.1:{upstream.port}"))
    yield app
    gateway().delete_route(f"{app.slug}-prod")


def test_a_body_to_no_app_is_answered_and_dropped_not_kept(live, gateway_pid):
    before = _rss_kib(gateway_pid)
    status, _ = _attack(live.apps_url, "/apps/no-such-app/prod/", length=None, send=0)
    assert status == 404  # "not found", from the headers: the gateway streams, it does not wait for the body
    length = 256 * MIB
    status, _ = _attack(live.apps_url, "/apps/no-such-app/prod/", length=length, send=length)
    assert status == 404
    assert _rss_kib(gateway_pid) - before < 64 * 1024


def test_an_enormous_websocket_message_from_an_app_closes_its_socket(live, routed, gateway_pid):
    before = _rss_kib(gateway_pid)
    with connect(f"{live.apps_ws}/apps/{routed.slug}/prod/hmr", open_timeout=10, max_size=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "upstream got: hello"
        ws.send(f"flood:{MIB}")  # within the cap: passes whole
        assert len(ws.recv(timeout=30)) == MIB
        ws.send(f"flood:{512 * MIB}")
        with pytest.raises(ConnectionClosed) as closed:
            got = ws.recv(timeout=120)
            pytest.fail(f"the gateway relayed a {len(got):,}-byte message")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
    assert _rss_kib(gateway_pid) - before < 64 * 1024
