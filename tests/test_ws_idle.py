"""An idle event websocket stays open: a viewer who watches a quiet app for a minute still gets
the next event, on the same socket (a bug: the channel layer's Redis read timed out after ~20 s
and the consumer died with 1011), and hears a heartbeat meanwhile (what the pages' watchdog
relies on to tell a quiet app from a dead connection)."""
import json
import time

import pytest
from django.conf import settings
from websockets.sync.client import connect

from core.announce import announce

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_SECONDS = 60


def test_an_idle_event_socket_still_receives_the_next_event(live, user_factory, app_factory):
    owner = user_factory(username="idler")
    app = app_factory(owner=owner, name="Quiet App")
    session = live.login("idler", owner.raw_password)
    headers = {"Cookie": f"sessionid={session.cookies['sessionid']}", "Origin": live.url}
    with connect(f"{live.ws_url}/ws/apps/{app.slug}/", additional_headers=headers, open_timeout=10) as ws:
        # Idle: read whatever the server sends (heartbeats) until the minute is over; a closed
        # socket raises here.
        until = time.monotonic() + IDLE_SECONDS
        beats = []
        while (left := until - time.monotonic()) > 0:
            try:
                frame = json.loads(ws.recv(timeout=left))
            except TimeoutError:
                break
            if frame.get("kind") == "heartbeat":
                beats.append(frame["data"]["interval"])
        # The default interval is 20 s: two at least in a quiet minute, whatever the load.
        assert len(beats) >= 2 and beats[0] == settings.MGX_WS_HEARTBEAT_SECONDS
        announce(slug=app.slug, kind="dev.status", data={"phase": "stopped", "message": "after a quiet minute", "health": "",
                                                          "error": ""})
        deadline = time.monotonic() + 10
        while True:
            frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if frame.get("kind") == "dev.status":
                break
        assert frame["data"]["message"] == "after a quiet minute"
