"""Failure drills: what a user sees when a part of MGX dies under them, and that it all works
again once the part is back. Real components only:

- A Celery worker SIGKILLed (with its pool) during a dev boot and during an agent run. The
  worker killed is a PRIVATE one (procs.web_instance's, on a queue of its own), so the suite's
  shared worker is never touched; the work is routed to that queue (Celery's task_routes in
  this process), and "a worker comes back" is the same worker (same node name) started again.
- The Docker engine gone. The machine's dockerd is shared by the whole suite (and other MGX
  installs), so it is never stopped: MGX's in-process views are given a DOCKER_HOST that is a
  unix-socket forwarder to the real engine socket, and the drill stops the forwarder (listener
  and every open connection cut) and starts it again. To MGX that is exactly the engine going
  away and coming back: connection refused on its socket, then answers again.
- Redis restarted: the suite's own Redis (same port), stopped and started with procs; always
  started again in a finally, so the tests that follow have it.

No fixed sleeps: every wait polls a condition with a deadline.
"""
import dataclasses
import json
import os
import signal
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from celery import current_app
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from agents.documents import AgentEvent, AgentRun, EventCounter
from agents.services import event_append
from agents.testing import ScriptedLLM, reply
from deployments.models import DevEnvironment
from mgx_site.cli import procs
from mgx_site.settings.test import _free_port

pytestmark = pytest.mark.django_db(transaction=True)


def _until(condition, *, within=30.0, what="", every=0.2):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(every)
    raise AssertionError(f"not within {within:.0f} s: {what() if callable(what) else what}")


def _get_or_none(http, url: str):
    try:
        return http.get(url, timeout=60)
    except requests.Timeout:
        return None


# ---------------------------------------------------------------- a private worker to kill

@pytest.fixture(scope="module")
def bridge_address():
    """Where an agent container reaches this host (the scripted model listens there)."""
    from mgx_site.cli.procs import docker_bridge_address

    return docker_bridge_address(settings.MGX_DOCKER_HOST)


class PrivateWorker:
    """A Celery worker of its own (procs.web_instance's, so started exactly as `./mgx up` starts
    one) that takes only the tasks sent to its own queue."""

    def __init__(self, live, *, env: dict | None = None):
        self.layout = live.layout
        self.queue = f"drill-{uuid.uuid4().hex[:8]}"
        port = _free_port()
        self.env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test", **(env or {}))
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        made = {p.name: p for p in procs.web_instance(live.layout, self.env, index=7, port=port,
                                                       apps_port=_free_port(), internal_port=_free_port())}
        celery = made["celery-7"]
        self.proc = dataclasses.replace(celery, argv=[*celery.argv, "-Q", self.queue])
        self.name = procs.worker_node(port)

    def start(self) -> None:
        procs.start(self.layout, self.proc, env=self.env)

    def kill(self) -> None:
        """SIGKILL, main process and pool: no shutdown signal runs, the heartbeat key stays."""
        pid = procs.running_pid(self.layout, self.proc)
        assert pid is not None, "the private worker is not running"
        os.killpg(pid, signal.SIGKILL)
        _until(lambda: not procs._alive(pid), within=10, what="the killed worker gone")
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def stop(self) -> None:
        procs.stop(self.layout, self.proc)

    def routed(self, *task_names: str):
        return _routed(self.queue, *task_names)


@contextmanager
def _routed(queue: str, *task_names: str):
    """Tasks of these names sent from this process go to `queue`."""
    before = current_app.conf.task_routes
    current_app.conf.task_routes = {name: {"queue": queue} for name in task_names}
    # Celery caches the prepared routing table and the router made from it.
    current_app.amqp.flush_routes()
    current_app.amqp.router = current_app.amqp.Router()
    try:
        yield
    finally:
        current_app.conf.task_routes = before
        current_app.amqp.flush_routes()
        current_app.amqp.router = current_app.amqp.Router()


# ---------------------------------------------------------------- 1. worker killed during a dev boot

def _dev(app) -> DevEnvironment:
    return DevEnvironment.objects.get(app=app)


@pytest.mark.timeout(900)
def test_a_worker_killed_during_a_dev_boot_leaves_a_failed_dev_server_that_starts_again(
        live, runtime_image, app_factory, user_factory):
    from deployments.services import dev_start, dev_stop

    owner = user_factory(username="bootkill")
    app = app_factory(owner=owner, name="Boot Kill", framework="nextjs")
    http = live.login("bootkill", owner.raw_password)
    worker = PrivateWorker(live)
    worker.start()
    try:
        with worker.routed("deployments.dev_boot"):
            dev_start(app=app)
        # Killed while it follows the boot: the container runs, installing, and nobody watches it.
        _until(lambda: _dev(app).phase in ("installing", "starting") and _dev(app).container_id, within=180,
               what="the private worker booting the dev server")
        worker.kill()
        worker.start()  # a worker comes back (same node name): its reconcile runs on start

        dev = _until(lambda: (d := _dev(app)).phase not in ("creating", "installing", "starting") and d, within=60,
                     what=f"the orphaned boot ended (phase now {_dev(app).phase})")
        assert dev.phase == "failed"
        assert "restarted" in dev.message and "start it again" in dev.message
        shown = http.get(f"{live.url}/api/apps/{app.slug}/dev", timeout=10).json()
        assert shown["phase"] == "failed" and shown["message"] == dev.message
        tab = http.get(f"{live.url}/sessions/{app.slug}/?tab=dev", timeout=10)
        assert tab.status_code == 200 and dev.message in tab.text

        # Starting again works (through the API, on the suite's own worker): the preview answers.
        started = http.post(f"{live.url}/api/apps/{app.slug}/dev", headers={"X-CSRFToken": http.cookies["csrftoken"]},
                            timeout=10)
        assert started.status_code == 202, started.text
        _until(lambda: _dev(app).phase in ("ready", "failed"), within=600, every=1, what="the dev server ready")
        assert _dev(app).phase == "ready", (_dev(app).message, _dev(app).last_log)
        # The first request compiles the page: slow on a loaded machine, so a slow answer is asked again.
        preview = _until(lambda: (r := _get_or_none(http, f"{live.apps_url}/apps/{app.slug}/dev/")) is not None
                         and r.status_code == 200 and r, within=300, every=1, what="the dev preview answering")
        assert "Boot Kill" in preview.text
    finally:
        worker.stop()
        dev_stop(app=app)


# ---------------------------------------------------------------- 2. worker killed during an agent run

@pytest.mark.timeout(600)
def test_a_worker_killed_during_an_agent_run_fails_only_that_run_and_the_next_run_completes(
        live, agent_image, bridge_address, app_factory, user_factory):
    from agents.services import run_start
    from core.workers import worker_alive

    owner = user_factory(username="runkill")
    app = app_factory(owner=owner, name="Run Kill", framework="fastapi_vite")
    hold = threading.Event()

    def slow(_body):
        # The model answers only when the test says so: the run stays in the middle of a call.
        hold.wait(300)
        return reply("too late")

    llm = ScriptedLLM([reply(tool=("assign", {"role": "engineer", "task": "Make it so."})), slow],
                      host=bridge_address).start()
    worker = PrivateWorker(live, env={"MGX_LLM_BASE_URL": llm.base_url, "MGX_LLM_API_KEY": "test-key",
                                      "MGX_LLM_MODEL": "scripted-model",
                                      "MGX_AGENT_API_URL": live.internal_url + "/internal/agent"})
    shared_worker = procs.worker_node(live.stack['daphne'].port)
    _until(lambda: worker_alive(name=shared_worker), what="the suite's worker heartbeat")
    # Someone else's run, watched by the suite's (live) worker: the drill must not touch it.
    other = AgentRun(run_id=uuid.uuid4().hex, session="someone-else", user="x", status="running", worker=shared_worker)
    other.save(force_insert=True)
    worker.start()
    try:
        with worker.routed("agents.run"):
            run = run_start(app=app, user=owner, text="Make it so")
        _until(lambda: len(llm.requests) >= 2, within=180,
               what=lambda: f"the run's second model call (it is held there); the run: "
                            f"{AgentRun.objects(run_id=run.run_id).first().to_mongo().to_dict()}, events: "
                            f"{[e.as_dict() for e in AgentEvent.objects(session=app.slug)][-3:]}")
        assert AgentRun.objects(run_id=run.run_id).first().worker == worker.name
        worker.kill()
        worker.start()

        # The reconcile sets the status, then tells the chat: wait for both.
        _until(lambda: AgentRun.objects(run_id=run.run_id).first().status != "running"
               and AgentEvent.objects(session=app.slug, run=run.run_id, type="ERROR").first(), within=60,
               what="the interrupted run ended and the chat was told")
        ended = AgentRun.objects(run_id=run.run_id).first()
        assert ended.status == "failed"
        said = AgentEvent.objects(session=app.slug, run=run.run_id, type="ERROR").first()
        assert said is not None and "send your message again" in said.payload["message"]
        http = live.login("runkill", owner.raw_password)
        task = http.get(f"{live.url}/api/apps/{app.slug}/agent/tasks/{run.run_id}", timeout=10)
        assert task.status_code == 200 and task.json()["status"] == "failed", task.text
        assert AgentRun.objects(run_id=other.run_id).first().status == "running"
        assert AgentEvent.objects(session="someone-else").count() == 0
        # The interrupted run's container went with it.
        import docker
        assert not docker.from_env().containers.list(all=True, filters={"label": f"mgx.run={run.run_id}"})

        hold.set()
        llm.add(reply(tool=("assign", {"role": "engineer", "task": "Say hello."})), reply("Hello."),
                reply(tool=("finish", {"summary": "Said hello"})))
        with worker.routed("agents.run"):
            again = run_start(app=app, user=owner, text="Try again")
        _until(lambda: AgentRun.objects(run_id=again.run_id).first().status in ("done", "failed"), within=240,
               every=0.5, what="the new run ending")
        assert AgentRun.objects(run_id=again.run_id).first().status == "done"
    finally:
        hold.set()
        worker.stop()
        llm.stop()
        AgentRun.objects(session__in=[app.slug, "someone-else"]).delete()
        AgentEvent.objects(session__in=[app.slug, "someone-else"]).delete()


# ---------------------------------------------------------------- 3. the Docker engine gone

class SocketForwarder:
    """A unix socket that forwards every connection to the real engine's socket; stop() is the
    engine gone (refused, open connections cut), start() the engine back."""

    def __init__(self, path: Path, target: str):
        self.path, self.target = path, target
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> "SocketForwarder":
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.target)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._open.update((conn, upstream))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while (data := src.recv(65536)):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.path.unlink(missing_ok=True)
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()


@pytest.fixture
def engine(settings, tmp_path):
    """MGX's in-process views on an engine the test can take away (the forwarder)."""
    from containers import docker_client

    real = settings.MGX_DOCKER_HOST
    if not real.startswith("unix://"):
        pytest.skip("the drill forwards a unix socket; DOCKER_HOST is not one")
    forwarder = SocketForwarder(tmp_path / "docker.sock", real[len("unix://"):]).start()
    settings.MGX_DOCKER_HOST = f"unix://{forwarder.path}"
    docker_client._client.cache_clear()
    yield forwarder
    forwarder.stop()
    settings.MGX_DOCKER_HOST = real
    docker_client._client.cache_clear()


def test_with_the_docker_engine_gone_pages_say_so_nothing_changes_and_all_works_when_it_is_back(
        live, engine, app_factory, user_factory, client):
    from deployments.services import dev_stop

    owner = user_factory(username="noengine")
    app = app_factory(owner=owner, name="No Engine", framework="nextjs")
    client.force_login(owner)
    DevEnvironment.objects.get_or_create(app=app)
    before = DevEnvironment.objects.filter(app=app).values().get()

    engine.stop()
    said = "The Docker engine does not answer"
    for tab in ("dev", "prod", "logs"):
        page = client.get(f"/sessions/{app.slug}/?tab={tab}")
        assert page.status_code == 200, (tab, page.status_code)
        assert "Traceback" not in page.content.decode()
    for panel in ("dev/panel", "prod/panel"):
        assert client.get(f"/sessions/{app.slug}/{panel}").status_code == 200, panel
    start = client.post(f"/api/apps/{app.slug}/dev")
    assert start.status_code == 503 and said in start.json()["error"]["message"], start.content
    # The Dev tab's Start button (HTMX): the panel shows the message in place.
    start_page = client.post(f"/sessions/{app.slug}/dev/start", HTTP_HX_REQUEST="true")
    assert start_page.status_code == 422 and said in start_page.content.decode()
    logs = client.get(f"/sessions/{app.slug}/logs/dev/download")
    assert logs.status_code == 503 and said in logs.content.decode()
    # Nothing was half-done: the dev environment is as it was, no boot was queued.
    assert DevEnvironment.objects.filter(app=app).values().get() == before

    engine.start()
    # The boot it queues goes nowhere (a queue no worker reads): what is tested here is that MGX
    # takes the start again; a whole boot is drilled above.
    nowhere = f"drill-nobody-{uuid.uuid4().hex[:8]}"
    try:
        page = client.get(f"/sessions/{app.slug}/?tab=dev")
        assert page.status_code == 200 and said not in page.content.decode()
        with _routed(nowhere, "deployments.dev_boot"):
            start = client.post(f"/api/apps/{app.slug}/dev")
        assert start.status_code == 202, start.content
        assert (_dev(app).phase, _dev(app).message) == ("creating", "Queued")
    finally:
        redis_lib.Redis.from_url(settings.MGX_REDIS_URL).delete(nowhere)
        dev_stop(app=app)


# ---------------------------------------------------------------- 4. Redis restarted

class ChatViewer:
    """The chat page's socket, as static/js/chat.js drives it: opened with ?after=<last seq
    seen>, reopened when it closes, and closed (then reopened) when no frame came for three
    heartbeat intervals; an event at or below the last seq is dropped."""

    def __init__(self, url: str, headers: dict):
        self.url, self.headers = url, headers
        self.last_seq = 0
        self.texts: list[str] = []
        self.opened = 0
        self.ws = None

    def _open(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                self.ws = connect(f"{self.url}?after={self.last_seq}", additional_headers=self.headers, open_timeout=5)
                self.opened += 1
                return
            except (OSError, InvalidHandshake, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # chat.js backs off from 0.5 s too

    def read_until(self, condition, *, within: float) -> None:
        deadline = time.monotonic() + within
        watchdog = 3 * settings.MGX_WS_HEARTBEAT_SECONDS
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not within {within:.0f} s; the chat shows {self.texts}")
            if self.ws is None:
                self._open()
            try:
                frame = json.loads(self.ws.recv(timeout=min(left, watchdog)))
            except ConnectionClosed:
                self.ws = None
                continue
            except TimeoutError:
                if left > watchdog:  # the watchdog, not the test's deadline: a dead connection
                    self.ws.close()
                    self.ws = None
                continue
            if frame.get("kind") == "agent.event" and frame["data"]["seq"] > self.last_seq:
                self.last_seq = frame["data"]["seq"]
                self.texts.append(frame["data"]["payload"].get("text", ""))

    def close(self):
        if self.ws is not None:
            self.ws.close()


def _celery_answers() -> bool:
    from mgx_site.celery import echo

    try:
        return echo.delay("after redis").get(timeout=5)["value"] == "after redis"
    except Exception:
        return False


@pytest.mark.timeout(300)
def test_after_redis_restarts_the_chat_reconnects_and_replays_what_it_missed(live, app_factory, user_factory):
    owner = user_factory(username="redisdrill")
    app = app_factory(owner=owner, name="Redis Drill")
    http = live.login("redisdrill", owner.raw_password)
    viewer = ChatViewer(f"{live.ws_url}/ws/apps/{app.slug}/agent/",
                        {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url})
    redis = live.stack["redis"]

    def say(text):
        event_append(session=app.slug, type="USER_MESSAGE", payload={"text": text, "user": "redisdrill"})

    try:
        say("before")
        viewer.read_until(lambda: "before" in viewer.texts, within=15)
        opened = viewer.opened

        procs.stop(live.layout, redis)
        say("while redis was down")  # stored; its live announcement is lost with Redis
        procs.start(live.layout, redis)
        say("after redis came back")

        viewer.read_until(lambda: "after redis came back" in viewer.texts, within=120)
        assert viewer.texts == ["before", "while redis was down", "after redis came back"]
        assert viewer.opened > opened  # it got them by reconnecting: a replay, not luck
    finally:
        viewer.close()
        if procs.running_pid(live.layout, redis) is None:
            procs.start(live.layout, redis)
        AgentEvent.objects(session=app.slug).delete()
        EventCounter.objects(session=app.slug).delete()
    # The rest of the stack found its Redis again: the worker answers, and so do websockets.
    _until(_celery_answers, within=60, what="the Celery worker answering after the Redis restart")
