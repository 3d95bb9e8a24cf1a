"""Session fixtures: the real services, started once per test run on private ports.

mgx_site.settings.test picked a run directory and free ports and put them in os.environ; the
processes started here inherit that environment, so Daphne and the Celery worker run on the
same SQLite file pytest-django migrates, the same Redis and the same MongoDB store as the
test process itself. Nothing here is a stand-in: these are the programs `./mgx up` runs.
"""
import os
import shutil
import time
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import sync_playwright

from mgx_site.cli import procs


@pytest.fixture(scope="session")
def layout():
    lay = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    lay.ensure()
    yield lay
    if not os.environ.get("MGX_KEEP_TEST_RUN"):  # keep logs for a post-mortem: MGX_KEEP_TEST_RUN=1
        shutil.rmtree(lay.var_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(layout):
    return {p.name: p for p in procs.stack(layout, dict(os.environ))}


@pytest.fixture(scope="session", autouse=True)
def backing_services(layout, stack):
    """Redis and the MongoDB wire-protocol stores (MGX's and the apps', with the guard apps reach
    it through), for every test."""
    results = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["apps-mongo"], stack["apps-mongo-guard"]])
    yield stack
    procs.stop_started(layout, results)


@pytest.fixture(scope="session")
def postgres_server(layout):
    """With MGX_TEST_POSTGRES=1, the PostgreSQL cluster `./mgx up` would start (MGX_POSTGRES=1),
    on the private port and directory mgx_site.settings.test chose; otherwise nothing."""
    if not os.environ.get("MGX_POSTGRES_DIR"):
        yield None
        return
    cfg = dict(os.environ)
    procs.postgres_prepare(layout, cfg)
    results = procs.start_all(layout, [procs.postgres_proc(layout, cfg)])
    yield results[0]
    procs.stop_started(layout, results)
    if not os.environ.get("MGX_KEEP_TEST_RUN"):
        shutil.rmtree(os.environ["MGX_POSTGRES_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_setup(postgres_server, django_db_setup):
    """pytest-django's database set-up, once the SQL server (if any) answers."""
    yield


@dataclass
class LiveStack:
    url: str
    ws_url: str
    apps_url: str  # the gateway process: apps on their own origin
    layout: procs.Layout
    stack: dict
    internal_url: str = ""  # Daphne's listener for agent containers (only /internal/agent/ answers)

    @property
    def apps_ws(self) -> str:
        return self.apps_url.replace("http", "ws", 1)

    def login(self, username: str, password: str) -> requests.Session:
        """Log in through the real login form, as a browser does; returns the cookie jar."""
        http = requests.Session()
        page = http.get(f"{self.url}/accounts/login/", timeout=10)
        assert page.status_code == 200
        done = http.post(
            f"{self.url}/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": f"{self.url}/accounts/login/"},
            timeout=10,
            allow_redirects=False,
        )
        assert done.status_code == 302, f"login failed for {username}: {done.status_code}"
        return http


def _live_env() -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the live processes keep Django's async-safety check
    return env


@pytest.fixture(scope="session")
def live(layout, stack, backing_services, django_db_setup, django_db_blocker):
    """Daphne, the apps gateway (nginx and its access check) and a Celery worker on the test
    database, over real TCP."""
    results = procs.start_all(layout, [stack["daphne"], stack["gateway-auth"], stack["gateway"], stack["celery"]],
                              env=_live_env())
    daphne = stack["daphne"]
    base = f"http://{daphne.host}:{daphne.port}"
    from django.conf import settings

    i_host, i_port = procs.internal_listener(dict(os.environ))
    yield LiveStack(url=base, ws_url=base.replace("http://", "ws://"), apps_url=settings.MGX_APPS_URL, layout=layout,
                    stack=stack, internal_url=f"http://{i_host}:{i_port}")
    procs.stop_started(layout, results)
    _remove_containers_of_this_run()


def _worker_answers(live, *, within: float = 60.0) -> bool:
    """The live stack's own worker answers a ping (its main process does, busy pool or not)."""
    from mgx_site.celery import app

    node = procs.worker_node(live.stack["daphne"].port)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if procs.running_pid(live.layout, live.stack["celery"]) is None:
            return False
        try:
            if app.control.ping(destination=[node], timeout=1.0, limit=1):
                return True
        except Exception:  # the broker itself coming back: ask again
            time.sleep(0.5)
    return False


def _redis_run_id() -> str | None:
    """Redis's run id: a new one after every restart."""
    import redis

    try:
        return redis.Redis.from_url(os.environ["MGX_REDIS_URL"], socket_timeout=5).info("server")["run_id"]
    except redis.RedisError:
        return None


def _healthz_ok(live, *, within: float = 90.0) -> tuple[bool, str]:
    deadline = time.monotonic() + within
    body = ""
    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"{live.url}/healthz", timeout=15)
            if answer.status_code == 200:
                return True, ""
            body = answer.text
        except requests.RequestException as exc:
            body = str(exc)
        time.sleep(0.5)
    return False, body


@pytest.fixture(autouse=True)
def _live_stack_kept(request):
    """A test after which the live stack's Celery worker is dead or deaf errors here, by name,
    and the worker is started again. So does a test that restarted Redis and after which Daphne
    does not say every service is up again (its own Celery and Redis connections included);
    Daphne and the worker are started again then. Otherwise every later test that needs them
    fails only by timing out, minutes each, and nothing says where they were lost (a CI run once
    ran out of time that way)."""
    if "live" not in request.fixturenames:
        yield
        return
    live = request.getfixturevalue("live")
    redis_before = _redis_run_id()
    yield
    worker, daphne = live.stack["celery"], live.stack["daphne"]
    if not _worker_answers(live):
        procs.stop(live.layout, worker)
        procs.start(live.layout, worker, env=_live_env())
        pytest.fail("the live stack's Celery worker no longer answered after this test; it was started again "
                    f"(its log: {live.layout.logfile(worker.name)})", pytrace=False)
    if _redis_run_id() != redis_before:
        healthy, said = _healthz_ok(live)
        if not healthy:
            for proc in (daphne, worker):
                procs.stop(live.layout, proc)
            procs.start_all(live.layout, [daphne, worker], env=_live_env())
            pytest.fail(f"after this test restarted Redis, /healthz did not come back to 200 ({said[:300]}); "
                        f"Daphne and the worker were started again (logs: {live.layout.logfile(daphne.name)})",
                        pytrace=False)


def _remove_containers_of_this_run():
    """Dev, agent, build and production containers this test run started (its own instance
    label) go with it, and so do the apps' networks, cache volumes and images."""
    import docker

    from containers.docker_client import instance_id, remove_images

    mine = {"label": f"mgx.instance={instance_id()}"}
    try:
        engine = docker.from_env()
        for container in engine.containers.list(all=True, filters=mine):
            container.remove(force=True)
        for volume in engine.volumes.list(filters=mine):
            volume.remove(force=True)
        for network in engine.networks.list(filters=mine):
            network.remove()
        # all=True: the builds' step images others were made from count as intermediate.
        remove_images(engine, engine.images.list(all=True, filters=mine), force=True)
    except docker.errors.DockerException:
        pass


@pytest.fixture
def user_factory(django_user_model):
    made = []

    def make(username="alice", password="correct horse battery", **extra):
        user = django_user_model.objects.create_user(username=username, password=password, **extra)
        user.raw_password = password
        made.append(user)
        return user

    return make


@pytest.fixture
def app_factory(user_factory):
    """Apps made the way a user makes them: App row, workspace from the template, first commit."""
    from studio.services import app_create

    def make(owner=None, name="Todo App", framework="nextjs", **extra):
        owner = owner or user_factory(username=f"owner-{name.lower().replace(' ', '-')}")
        return app_create(owner=owner, name=name, framework=framework, **extra)

    return make


@pytest.fixture(autouse=True)
def _fresh_workspaces(settings):
    """The database is emptied after each test; the workspaces on disk go with it, so a slug
    used by one test is free for the next."""
    yield
    from pathlib import Path

    from workspaces.quota import disks_unmount_all

    disks_unmount_all(workspace_root=Path(settings.MGX_WORKSPACE_ROOT))
    shutil.rmtree(settings.MGX_WORKSPACE_ROOT, ignore_errors=True)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser(live):
    # Playwright's sync API keeps an event loop running in this thread, which makes Django
    # refuse ORM calls from the test body; the loop is Playwright's own, not Django's, so the
    # check does not apply here. (The live processes were started before this and keep it on.)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield b
        b.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


@pytest.fixture
def wide(browser):
    """A page at 1440x900: the screenshots people look at."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def browser_login(live):
    def login(page, user):
        page.goto(f"{live.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", user.raw_password)
        page.click("form button.btn-primary")
        page.wait_for_url(f"{live.url}/")

    return login


IMAGE_BUILD_TIMEOUT = 1800  # seconds: a cold base + runtime build takes 1–3 minutes here


@pytest.fixture(scope="session")
def runtime_image(pytestconfig):
    """The runtime image's name, made by containers.images when missing or out of date (once
    per machine: the images stay in the Docker engine). Progress goes to the terminal."""
    from containers.images import images_ensure

    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        made = images_ensure(progress=lambda line: print(f"\n[images] {line}", end="", flush=True))
        print(flush=True)
    return made["runtime"]["name"]


def pytest_itemcollected(item):
    """Tests that start app or agent containers are marked app_containers (as each is collected,
    so before -m selects)."""
    fixtures = getattr(item, "fixturenames", ())
    if "runtime_image" in fixtures or "agent_image" in fixtures:
        item.add_marker(pytest.mark.app_containers)


def pytest_configure(config):
    config.addinivalue_line("markers", "app_containers: starts app or agent containers (uses runtime_image or "
                            "agent_image); CI's PostgreSQL pass runs -m 'not app_containers'")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The first selected test that needs the runtime image may build it: that one test gets
    room for the build; every other test keeps the default timeout."""
    for item in items:
        if "runtime_image" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(IMAGE_BUILD_TIMEOUT), append=False)
            break


@pytest.fixture(scope="session")
def agent_image(runtime_image):
    """The agent image (made together with the runtime image by images_ensure)."""
    from django.conf import settings

    return settings.MGX_AGENT_IMAGE
