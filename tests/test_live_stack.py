"""The foundation on real processes: Celery through Redis, websockets through Daphne, /healthz."""
import json
import os
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from mgx_site.cli import procs
from mgx_site.celery import echo

pytestmark = pytest.mark.django_db(transaction=True)


def test_celery_task_round_trips_through_redis_to_a_real_worker_process(live):
    result = echo.delay("hello from the test").get(timeout=30)

    assert result["value"] == "hello from the test"
    # Answered by the worker process started from the CLI's process table, not in-process.
    assert result["worker_pid"] != os.getpid()
    worker_pid = procs.running_pid(live.layout, live.stack["celery"])
    assert worker_pid is not None
    assert result["worker_pid"] in {worker_pid, *_children(worker_pid)}


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return {int(p) for p in fh.read().split()}
    except OSError:
        return set()


def test_websocket_echo_answers_a_logged_in_user_over_daphne(live, user_factory):
    user = user_factory(username="alice")
    http = live.login("alice", user.raw_password)

    with connect(
        f"{live.ws_url}/ws/echo/",
        additional_headers={"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url},
        open_timeout=10,
    ) as ws:
        ws.send("ping over tcp")
        reply = json.loads(ws.recv(timeout=10))

    assert reply == {"echo": "ping over tcp", "user": "alice"}


def test_websocket_refuses_an_anonymous_connection(live):
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"{live.ws_url}/ws/echo/", additional_headers={"Origin": live.url}, open_timeout=10):
            pass
    assert refused.value.response.status_code == 403


def test_websocket_refuses_a_foreign_origin_even_with_a_session(live, user_factory):
    user = user_factory(username="bob")
    http = live.login("bob", user.raw_password)
    with pytest.raises(InvalidStatus) as refused:
        with connect(
            f"{live.ws_url}/ws/echo/",
            additional_headers={"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": "http://evil.example"},
            open_timeout=10,
        ):
            pass
    assert refused.value.response.status_code == 403


def _healthz(live):
    return requests.get(f"{live.url}/healthz", timeout=15)


def _wait_for_status(live, code, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        response = _healthz(live)
        if response.status_code == code or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_healthz_is_200_with_every_service_up(live):
    response = _wait_for_status(live, 200)

    body = response.json()
    assert response.status_code == 200, body
    assert body == {"status": "ok", "checks": dict.fromkeys(("database", "mongodb", "redis", "docker", "celery"), "ok")}


def test_healthz_names_redis_when_it_is_stopped_and_recovers_when_it_is_back(live):
    redis = live.stack["redis"]
    assert _wait_for_status(live, 200).status_code == 200
    procs.stop(live.layout, redis)
    try:
        down = _healthz(live)
        assert down.status_code == 503
        assert down.json()["status"] == "degraded"
        assert down.json()["checks"]["redis"] == "down"
        assert down.json()["checks"]["mongodb"] == "ok"  # only what is down is named
    finally:
        procs.start(live.layout, redis)

    # The worker reconnects to the broker by itself; nothing else is restarted.
    back = _wait_for_status(live, 200, timeout=90)
    assert back.status_code == 200, f"{back.json()}\n{_worker_log(live)}"
    assert set(back.json()["checks"].values()) == {"ok"}


def test_healthz_does_not_leak_passwords_in_addresses(live, settings):
    from core.probes import redact as _redact

    assert _redact("redis://:s3cret@10.0.0.1:6379/0") == "redis://***@10.0.0.1:6379/0"
    assert "s3cret" not in _redact("mongodb://mgx:s3cret@db:27017/mgx")


def test_live_updates_survive_a_redis_restart(live, app_factory, user_factory):
    from core.announce import announce

    owner = user_factory(username="restarter")
    app = app_factory(owner=owner, name="Restart Proof")
    http = live.login("restarter", owner.raw_password)
    headers = {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}

    STATUS = {"phase": "ready", "message": "Ready", "health": "", "error": ""}  # noqa: N806

    def listen_once():
        # The consumer joins the app's group before it accepts: once open, the socket hears it.
        with connect(f"{live.ws_url}/ws/apps/{app.slug}/", additional_headers=headers, open_timeout=10) as ws:
            announce(slug=app.slug, kind="dev.status", data=STATUS)
            return json.loads(ws.recv(timeout=10))

    assert listen_once()["data"] == STATUS  # Daphne now holds pooled connections
    procs.stop(live.layout, live.stack["redis"])
    procs.start(live.layout, live.stack["redis"])
    assert listen_once()["data"] == STATUS  # not a 500 from a dead pooled connection
    assert _echo_within(60) == "after the restart", _worker_log(live)  # and the worker takes tasks again


def _worker_log(live) -> str:
    """The worker's last lines, for a failure's message: why it did not come back."""
    path = live.layout.logfile(live.stack["celery"].name)
    return "worker log:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]) if path.exists() else ""


def _echo_within(seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return echo.delay("after the restart").get(timeout=5)["value"]
        except Exception:  # the broker coming back, or the worker not yet reconnected
            time.sleep(0.5)
    return None
