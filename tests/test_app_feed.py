"""One Daphne process hears an app's announcements once, through one channel-layer subscription
(core.feed), and hands them to every socket of its own that watches the app: each such socket
gets each event once, a socket that leaves gets nothing more (and when the app's last socket
leaves, the process leaves the app's group), and after a Redis restart the sockets reconnect
and hear the app again. Real Daphne, Redis and channel layer; the announcements are made by
core.announce, as every service makes them."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack

import pytest
import redis as redis_lib
import requests
from channels.layers import get_channel_layer
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.announce import announce, app_group
from core.consumers import FEED_LOST
from mgx_site.cli import procs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def watcher(live, user_factory, app_factory):
    owner = user_factory(username="feed-owner")
    app = app_factory(owner=owner, name="Feed App")
    other = app_factory(owner=owner, name="Feed Other")
    session = live.login(owner.username, owner.raw_password)
    headers = {"Cookie": f"sessionid={session.cookies['sessionid']}", "Origin": live.url}

    def open_socket(path: str):
        return connect(f"{live.ws_url}{path}", additional_headers=headers, open_timeout=15)

    open_socket.headers = headers
    return app, other, open_socket


def _members(slug: str) -> list[str]:
    """Who is in the app's group in Redis (channels_redis keeps a group as a sorted set)."""
    key = get_channel_layer()._group_key(app_group(slug))
    return [m.decode() for m in redis_lib.Redis.from_url(settings.MGX_REDIS_URL).zrange(key, 0, -1)]


def _frames(ws, *, within: float) -> list[dict]:
    """Every frame but heartbeats until nothing came for `within` seconds."""
    out = []
    while True:
        try:
            frame = json.loads(ws.recv(timeout=within))
        except TimeoutError:
            return out
        if frame.get("kind") != "heartbeat":
            out.append(frame)


def _next(ws, kind: str, *, within: float = 15) -> dict:
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        frame = json.loads(ws.recv(timeout=left))
        if frame.get("kind") == kind:
            return frame["data"]
    raise AssertionError(f"no {kind} within {within} s")


def _dev(slug: str, message: str) -> None:
    announce(slug=slug, kind="dev.status", data={"phase": "running", "message": message, "health": "", "error": ""})


def _until(condition, *, within: float, what: str):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {within:.0f} s: {what}")


def test_two_sockets_of_one_app_each_get_every_event_once_through_one_subscription(watcher):
    app, other, open_socket = watcher
    with ExitStack() as sockets:
        first = sockets.enter_context(open_socket(f"/ws/apps/{app.slug}/"))
        second = sockets.enter_context(open_socket(f"/ws/apps/{app.slug}/"))
        chat = sockets.enter_context(open_socket(f"/ws/apps/{app.slug}/agent/"))
        elsewhere = sockets.enter_context(open_socket(f"/ws/apps/{other.slug}/"))
        # Three sockets of the app in this Daphne: one member of its group, the process's feed.
        assert len(_members(app.slug)) == 1, _members(app.slug)

        for n in range(3):
            _dev(app.slug, f"event {n}")
        for ws in (first, second):
            assert [f["data"]["message"] for f in _frames(ws, within=2)] == ["event 0", "event 1", "event 2"]
        # Each socket forwards only the kinds it declares; another app's socket hears nothing.
        assert _frames(chat, within=0.5) == []
        assert _frames(elsewhere, within=0.5) == []


def test_a_socket_that_leaves_gets_nothing_more_and_the_last_one_out_leaves_the_group(watcher):
    app, _other, open_socket = watcher
    with open_socket(f"/ws/apps/{app.slug}/") as staying, open_socket(f"/ws/apps/{app.slug}/") as leaving:
        _dev(app.slug, "both")
        assert _next(staying, "dev.status")["message"] == "both"
        assert _next(leaving, "dev.status")["message"] == "both"

        leaving.close()
        _dev(app.slug, "one left")
        assert [f["data"]["message"] for f in _frames(staying, within=1)] == ["one left"]
        assert len(_members(app.slug)) == 1  # the other socket still watches
    _until(lambda: _members(app.slug) == [], within=10, what="the group still lists this Daphne")


@pytest.mark.timeout(240)
def test_after_a_redis_restart_the_sockets_reconnect_and_hear_the_app_again(live, watcher):
    app, _other, open_socket = watcher
    redis = live.stack["redis"]
    try:
        with open_socket(f"/ws/apps/{app.slug}/") as ws:
            _dev(app.slug, "before")
            assert _next(ws, "dev.status")["message"] == "before"

            procs.stop(live.layout, redis)
            procs.start(live.layout, redis)
            # The feed lost Redis: its sockets are closed, so the pages reconnect (and replay).
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=60)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == FEED_LOST
    finally:
        if procs.running_pid(live.layout, redis) is None:
            procs.start(live.layout, redis)

    def reopened():
        try:
            return open_socket(f"/ws/apps/{app.slug}/")
        except Exception:  # Daphne's channel layer is reconnecting: the page tries again too
            return None

    ws = _until(reopened, within=60, what="the event socket opening again after the Redis restart")
    with ws:
        _dev(app.slug, "after")
        assert _next(ws, "dev.status")["message"] == "after"
        assert len(_members(app.slug)) == 1


def test_a_socket_watching_one_app_holds_up_no_other_listener_of_the_same_daphne(live, watcher):
    """The feed reads the channel layer beside every other listener of its process (log viewers,
    the agent's event stream over HTTP): they take turns at one Redis key, so a feed waiting for
    its app's events must not keep another app's stream from hearing its own (it did, when the
    feed's channel had a prefix of its own)."""
    from agents.services import event_append

    app, other, open_socket = watcher
    with open_socket(f"/ws/apps/{app.slug}/") as ws:
        _dev(app.slug, "the feed is reading")
        assert _next(ws, "dev.status")["message"] == "the feed is reading"
        with requests.get(f"{live.url}/api/apps/{other.slug}/agent/events", headers=open_socket.headers,
                          stream=True, timeout=30) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines(decode_unicode=True)
            assert next(lines).startswith("retry:")
            event_append(session=other.slug, type="USER_MESSAGE", payload={"text": "heard", "user": "feed-owner"})
            deadline = time.monotonic() + 20  # the stream pings every MGX_SSE_HEARTBEAT_SECONDS meanwhile
            for line in lines:
                if line.startswith("data:") or time.monotonic() > deadline:
                    break
            assert line.startswith("data:"), "the other app's stream heard nothing while the feed waited"
            assert json.loads(line[len("data:"):])["payload"]["text"] == "heard"
