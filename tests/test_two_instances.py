"""Two MGX web instances on one SQL database, Redis and MongoDB, as behind a load balancer:
a user logged in through one is served by the other, an event made through one reaches a
viewer on the other, a route pushed by any process is served by both gateways, and of two
Celery workers a starting one fails only the runs it owned or whose owner is dead."""
import json
import socket
import time
import uuid
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings
from django.utils import timezone
from websockets.sync.client import connect

from agents.documents import AgentEvent, AgentRun
from core.workers import heartbeat_key, worker_alive, workers_alive
from deployments.gateway import gateway, route_for
from mgx_site.cli import procs
from mgx_site.settings.test import _free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def second(live):
    """Daphne, the apps gateway and a Celery worker of a second instance; the worker is
    started by the tests that need it (its start is what they test)."""
    import os

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    port, apps_port = _free_port(), _free_port()
    made = {p.name: p for p in procs.web_instance(live.layout, env, index=2, port=port, apps_port=apps_port,
                                                   internal_port=_free_port())}
    results = procs.start_all(live.layout, [made["daphne-2"], made["gateway-auth-2"], made["gateway-2"]], env=env)
    yield {"url": f"http://127.0.0.1:{port}", "apps_url": f"http://127.0.0.1:{apps_port}", "procs": made, "env": env,
           "worker": procs.worker_node(port)}
    procs.stop_started(live.layout, results)


@pytest.fixture
def no_runs():
    AgentRun.drop_collection()
    AgentEvent.drop_collection()
    yield
    AgentRun.drop_collection()
    AgentEvent.drop_collection()


def _until(condition, *, within=30.0, what=""):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


def test_a_user_of_one_instance_is_served_by_the_other_and_hears_what_is_done_there(live, second, app_factory,
                                                                                    user_factory):
    owner = user_factory(username="twin")
    app = app_factory(owner=owner, name="Twin App")
    through_one = live.login("twin", owner.raw_password)

    # The same session cookie, on the other instance: sessions are in the SQL database.
    page = requests.get(f"{second['url']}/sessions/{app.slug}/", cookies=through_one.cookies, timeout=10,
                        allow_redirects=False)
    assert page.status_code == 200 and "Twin App" in page.text

    headers = {"Cookie": f"sessionid={through_one.cookies['sessionid']}", "Origin": live.url}
    with connect(f"{second['url'].replace('http', 'ws', 1)}/ws/apps/{app.slug}/", additional_headers=headers,
                 open_timeout=10) as viewer:
        made = through_one.post(f"{live.url}/sessions/{app.slug}/files/new", data={"path": "notes.txt", "kind": "file"},
                                headers={"X-CSRFToken": through_one.cookies["csrftoken"]}, timeout=10)
        assert made.status_code == 200
        deadline = time.monotonic() + 10
        while True:
            frame = json.loads(viewer.recv(timeout=max(0.1, deadline - time.monotonic())))
            if frame.get("kind") == "workspace.changed":
                break
    assert frame["data"] == {"paths": ["notes.txt"], "by": "twin"}


def test_a_route_pushed_over_redis_is_served_by_both_gateways(live, second, app_factory, user_factory, upstream):
    owner = user_factory(username="gwtwin")
    app = app_factory(owner=owner, name="Gw Twin")
    session = requests.Session()
    # Logged in through the second instance; the dev preview is private to the owner.
    session.cookies.update(live.login("gwtwin", owner.raw_password).cookies)
    gateway().set_route(route_for(slug=app.slug, stage="dev", upstream=f"127.0.0.1:{upstream.port}"))
    try:
        for apps_url in (live.apps_url, second["apps_url"]):
            got = _until(lambda: (r := session.get(f"{apps_url}/apps/{app.slug}/dev/page", timeout=10)).status_code == 200
                         and r, within=10, what=f"dev route served at {apps_url}")
            assert got.headers["X-Upstream"] == "yes" and got.json()["path"] == f"/apps/{app.slug}/dev/page"
    finally:
        gateway().delete_route(f"{app.slug}-dev")
    for apps_url in (live.apps_url, second["apps_url"]):
        _until(lambda: session.get(f"{apps_url}/apps/{app.slug}/dev/page", timeout=10).status_code != 200,
               within=10, what=f"route removed at {apps_url}")


def _run(*, slug, status="running", worker="", taken_at=None):
    run = AgentRun(run_id=uuid.uuid4().hex, session=slug, user="x", status=status, worker=worker, taken_at=taken_at)
    run.save(force_insert=True)
    return run.run_id


def _status(run_id):
    return AgentRun.objects(run_id=run_id).first().status


def test_a_starting_worker_fails_only_its_own_runs_and_those_of_dead_workers(live, second, no_runs):
    first_worker = procs.worker_node(live.stack['daphne'].port)
    _until(lambda: first_worker in workers_alive(), within=30, what="the first worker's heartbeat")
    store = redis.Redis.from_url(settings.MGX_REDIS_URL)
    # A worker that was killed: its heartbeat has run out (expired in Redis, not waited for).
    store.set(heartbeat_key("mgx-gone@elsewhere"), "1", ex=settings.MGX_WORKER_HEARTBEAT_TTL)
    store.pexpire(heartbeat_key("mgx-gone@elsewhere"), 1)
    _until(lambda: not worker_alive(name="mgx-gone@elsewhere"), within=5, what="the dead worker's key expiring")

    watched = _run(slug="one", worker=first_worker)
    orphan_of_dead = _run(slug="two", worker="mgx-gone@elsewhere")
    own_previous_life = _run(slug="three", worker=second["worker"])
    from_before_owners = _run(slug="four", worker="")
    queued = _run(slug="five", status="queued")

    results = procs.start_all(live.layout, [second["procs"]["celery-2"]], env=second["env"])
    try:
        # The reconcile sets each status, then tells that chat: wait for both.
        _until(lambda: all(_status(r) == "failed" for r in (orphan_of_dead, own_previous_life, from_before_owners))
               and AgentEvent.objects(session="two", type="ERROR").first(),
               within=60, what="the orphaned runs failed and their chats were told")
        assert worker_alive(name=second["worker"]) and worker_alive(name=first_worker)
        # The first worker still watches its run, and the queued one is still in the broker.
        assert _status(watched) == "running" and _status(queued) == "queued"
        said = AgentEvent.objects(session="two", type="ERROR").first().payload["message"]
        assert "send your message again" in said
        assert AgentEvent.objects(session="one").count() == 0
    finally:
        procs.stop_started(live.layout, results)
    # A clean shutdown says so at once: its runs need not wait for the key to expire.
    assert not worker_alive(name=second["worker"])


def test_a_starting_worker_keeps_the_runs_it_took_in_its_present_life(live, no_runs):
    """A restarted worker's reconcile may run only after that worker (same node name) has taken
    a new run: that run is watched now and must not be failed as its previous life's. A run it
    took before it restarted is still failed, and so is one recorded without the time it was
    taken (before the time was recorded)."""
    from agents.services import runs_reconcile

    starting = f"mgx-starting@{socket.gethostname()}"
    life_began = time.time()
    taken_now = _run(slug="now", worker=starting, taken_at=life_began + 1)
    taken_before = _run(slug="before", worker=starting, taken_at=life_began - 60)
    untimed = _run(slug="untimed", worker=starting)

    ended = runs_reconcile(worker=starting, since=life_began)

    assert sorted(ended) == sorted([taken_before, untimed])
    assert _status(taken_now) == "running" and AgentEvent.objects(session="now").count() == 0
    assert _status(taken_before) == "failed" and _status(untimed) == "failed"
    assert "send your message again" in AgentEvent.objects(session="before", type="ERROR").first().payload["message"]


def test_the_worker_that_takes_a_run_is_recorded_as_its_owner(live, app_factory, no_runs):
    from celery import current_app

    app = app_factory(name="Owned Run")
    run_id = _run(slug=app.slug, status="queued")
    before = time.time()
    current_app.send_task("agents.run", args=(run_id,))

    owner = _until(lambda: AgentRun.objects(run_id=run_id).first().worker, within=30, what="the run's owner recorded")
    assert owner == procs.worker_node(live.stack['daphne'].port)
    # And when it took it: what tells a run of this life from one of the worker's previous life.
    assert before <= AgentRun.objects(run_id=run_id).first().taken_at <= time.time()
    # However it ends here (no model is configured in the tests), it ends, and keeps its owner.
    _until(lambda: _status(run_id) in ("done", "failed", "cancelled"), within=120, what="the run ending")
    assert AgentRun.objects(run_id=run_id).first().worker == owner


def test_a_starting_worker_leaves_the_dev_boots_that_live_workers_follow(live, app_factory):
    """Worker B starting while worker A boots a dev server (A has saved "creating" and set the
    route, its container is on its way) must leave that boot to A: not mark it stopped, not
    drop its route. A boot whose worker is dead is still ended. A start only queued (no worker
    has it yet) is left queued: whichever worker takes its task boots it (CI once saw B's
    reconcile mark such a start stopped while A was already booting it, and A's boot then
    lived on under a row that said "stopped")."""
    from deployments.models import DevEnvironment
    from deployments.services import dev_reconcile

    first_worker = procs.worker_node(live.stack['daphne'].port)
    _until(lambda: first_worker in workers_alive(), within=30, what="the first worker's heartbeat")
    followed = app_factory(name="Followed Boot")
    orphan = app_factory(name="Orphan Boot")
    queued = app_factory(name="Queued Boot")
    # The starting worker may take a boot before its reconcile runs (CI, under load): that one is
    # its present life's, unlike a boot it took before it restarted.
    starting = f"mgx-starting@{socket.gethostname()}"
    life_began = timezone.now()
    taken_now = app_factory(name="Taken Now")
    taken_before = app_factory(name="Taken Before")
    DevEnvironment.objects.create(app=followed, phase="creating", message="Creating the container", worker=first_worker)
    DevEnvironment.objects.create(app=orphan, phase="installing", message="Installing", worker="mgx-gone@elsewhere")
    DevEnvironment.objects.create(app=queued, phase="creating", message="Queued", worker="")
    DevEnvironment.objects.create(app=taken_now, phase="creating", message="Creating the container", worker=starting,
                                  started_at=life_began + timedelta(seconds=1))
    DevEnvironment.objects.create(app=taken_before, phase="installing", message="Installing", worker=starting,
                                  started_at=life_began - timedelta(seconds=60))
    route = route_for(slug=followed.slug, stage="dev", upstream="127.0.0.1:9")
    gateway().set_route(route)
    try:
        dev_reconcile(worker=starting, since=life_began.timestamp())

        kept = DevEnvironment.objects.get(app=followed)
        assert (kept.phase, kept.message, kept.worker) == ("creating", "Creating the container", first_worker)
        assert gateway().routes().get(route.id) == route
        assert DevEnvironment.objects.get(app=orphan).phase in ("stopped", "failed")
        still = DevEnvironment.objects.get(app=queued)
        assert (still.phase, still.message, still.worker) == ("creating", "Queued", "")
        assert DevEnvironment.objects.get(app=taken_now).phase == "creating"
        assert DevEnvironment.objects.get(app=taken_before).phase in ("stopped", "failed")
    finally:
        gateway().delete_route(route.id)


def test_a_queued_start_is_booted_once_and_not_at_all_once_stopped(app_factory):
    """The boot task takes its start in one conditional write: a start the user stopped before
    any worker took it boots nothing, and a start another worker already took is not booted a
    second time. Neither reaches Docker."""
    from deployments.models import DevEnvironment
    from deployments.services import dev_boot

    stopped = app_factory(name="Stopped Queue")
    DevEnvironment.objects.create(app=stopped, phase="stopped", message="Stopped", worker="")
    taken = app_factory(name="Taken Queue")
    DevEnvironment.objects.create(app=taken, phase="creating", message="Creating the container", worker="mgx-a@host")

    assert dev_boot(app=stopped, worker="mgx-b@host", queued=True).phase == "stopped"
    assert dev_boot(app=taken, worker="mgx-b@host", queued=True).worker == "mgx-a@host"

    assert [(d.phase, d.message, d.worker) for d in DevEnvironment.objects.order_by("app__name")] == [
        ("stopped", "Stopped", ""), ("creating", "Creating the container", "mgx-a@host")]


def test_start_again_boots_a_queued_start_whose_task_was_lost(live, app_factory):
    """A start whose task was lost (a worker killed after taking it from the broker, before it
    claimed the start) stayed "Queued", and Start only said it was on its way: the person had to
    stop and start. Start queues it again; a live worker takes it. (The claim keeps a start
    queued twice from booting twice.)"""
    from deployments.models import DevEnvironment
    from deployments.services import dev_start, dev_stop

    first_worker = procs.worker_node(live.stack['daphne'].port)
    app = app_factory(name="Lost Start")
    DevEnvironment.objects.create(app=app, phase="creating", message="Queued", worker="")  # its task is gone
    try:
        dev_start(app=app)
        # Taken (the claim names the worker), then under way: the boot says what it does next
        # once it has made the app's network and environment, a moment after the claim.
        taken = _until(lambda: (dev := DevEnvironment.objects.get(app=app)).worker and dev.message != "Queued" and dev,
                       within=60, what="the start taken by a worker and under way")
        assert taken.worker == first_worker
    finally:
        dev_stop(app=app)
