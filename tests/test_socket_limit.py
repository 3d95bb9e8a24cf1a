"""Open websockets per user (MGX_MAX_SOCKETS_PER_USER), on the live Daphne, across MGX's sockets
(the echo socket, an app's events, its agent events): past the limit a socket is refused with a
frame that says why and close code 4429, and nothing else changes; another person is not
affected; a closed socket gives its place back. Places are leases in Redis (so every Daphne
instance counts the same), and a Daphne that died without closing its sockets leaves leases that
run out: they do not count."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack

import pytest
import redis
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.socket_limits import lease_key

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = settings.MGX_MAX_SOCKETS_PER_USER


@pytest.fixture
def people(live, user_factory, app_factory):
    alice = user_factory(username="sockets-alice")
    app = app_factory(owner=alice, name="Socket Limit")
    bob = user_factory(username="sockets-bob")
    yield {"alice": (alice, live.login(alice.username, alice.raw_password)), "app": app,
           "bob": (bob, live.login(bob.username, bob.raw_password))}
    redis.Redis.from_url(settings.MGX_REDIS_URL).delete(lease_key(alice.pk), lease_key(bob.pk))


def _open(live, session, path):
    return connect(f"{live.ws_url}{path}", open_timeout=15,
                   additional_headers={"Cookie": f"sessionid={session.cookies['sessionid']}", "Origin": live.url})


def _works(ws) -> bool:
    ws.send("ping")
    return json.loads(ws.recv(timeout=15))["echo"] == "ping"


def _refusal(ws) -> tuple[str, int | None]:
    """The frame and close code a refused socket gets."""
    said = json.loads(ws.recv(timeout=15))
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=15)
    return said, closed.value.rcvd.code if closed.value.rcvd else None


def _leases(user) -> int:
    return redis.Redis.from_url(settings.MGX_REDIS_URL).zcard(lease_key(user.pk))


def test_past_the_limit_a_socket_is_refused_with_a_message(live, people):
    (alice, session), app = people["alice"], people["app"]
    with ExitStack() as sockets:
        held = [sockets.enter_context(_open(live, session, f"/ws/apps/{app.slug}/")),
                sockets.enter_context(_open(live, session, f"/ws/apps/{app.slug}/agent/"))]
        held += [sockets.enter_context(_open(live, session, "/ws/echo/")) for _ in range(LIMIT - len(held))]
        assert _works(held[-1])
        assert _leases(alice) == LIMIT
        with _open(live, session, "/ws/echo/") as extra:
            said, code = _refusal(extra)
        assert code == 4429
        assert said["kind"] == "refused" and "MGX_MAX_SOCKETS_PER_USER" in said["data"]["message"]
        assert str(LIMIT) in said["data"]["message"]
        assert _leases(alice) == LIMIT  # the refusal took no place
        assert all(_works(ws) for ws in held[2:4])  # and the others still work

        # Bob is not affected.
        with _open(live, people["bob"][1], "/ws/echo/") as his:
            assert _works(his)

        # A socket that closes gives its place back (once Daphne has ended its consumer: on a
        # loaded machine that can take a while, so the wait is long; it is no speed check).
        held.pop().close()
        deadline = time.monotonic() + 120
        while _leases(alice) >= LIMIT:
            assert time.monotonic() < deadline, "the closed socket's place never came back"
            time.sleep(0.1)
        with _open(live, session, "/ws/echo/") as again:
            assert _works(again)


def test_places_left_by_a_dead_daphne_run_out(live, people):
    """A Daphne killed with sockets open never releases their leases; their time runs out
    (MGX_SOCKET_LEASE_SECONDS, renewed only by a live Daphne), and then they do not count."""
    alice, session = people["alice"]
    store = redis.Redis.from_url(settings.MGX_REDIS_URL)
    now = float(store.time()[0])
    store.zadd(lease_key(alice.pk), {f"dead-{i}": now - 1 - i for i in range(LIMIT)})  # all ran out
    with _open(live, session, "/ws/echo/") as ws:
        assert _works(ws)
        assert _leases(alice) == 1  # the dead ones were dropped when this one took its place


def test_every_open_socket_holds_a_lease_that_runs_out_unless_renewed(live, people):
    alice, session = people["alice"]
    store = redis.Redis.from_url(settings.MGX_REDIS_URL)
    with _open(live, session, "/ws/echo/") as ws:
        assert _works(ws)
        ((_, expires),) = store.zrange(lease_key(alice.pk), 0, -1, withscores=True)
        now = float(store.time()[0])
        assert now < expires <= now + settings.MGX_SOCKET_LEASE_SECONDS + 1
        assert 0 < store.ttl(lease_key(alice.pk)) <= settings.MGX_SOCKET_LEASE_SECONDS + 2
