"""Dev containers on the real Docker engine, reached through the builtin gateway in Daphne."""
import json
import re
import time

import docker
import pytest
from django.conf import settings as django_settings
from websockets.sync.client import connect

from containers.docker_client import container_name, instance_id
from deployments import services
from deployments.models import DevEnvironment
from mgx_site.cli import procs
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)
Phase = DevEnvironment.Phase


def wait_for_phase(app, phases, timeout=420):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dev = DevEnvironment.objects.filter(app=app).first()
        if dev and dev.phase in phases:
            return dev
        time.sleep(1)
    dev = DevEnvironment.objects.filter(app=app).first()
    raise AssertionError(f"still {dev and dev.phase} after {timeout}s: {dev and dev.message}\n{dev and dev.last_log}")


def get_until(http, url, needle, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        got = http.get(url, timeout=120)
        if needle in got.text or time.monotonic() > deadline:
            return got
        time.sleep(1)


@pytest.fixture
def owner(user_factory):
    return user_factory(username="devowner")


def test_nextjs_dev_server_end_to_end(live, runtime_image, app_factory, owner, user_factory):
    app = app_factory(owner=owner, name="Next Demo", framework="nextjs")
    http = live.login("devowner", owner.raw_password)
    assert http.post(f"{live.url}/api/apps/{app.slug}/dev", headers={"X-CSRFToken": http.cookies["csrftoken"]}).status_code == 202

    dev = wait_for_phase(app, {Phase.READY, Phase.FAILED})
    assert dev.phase == Phase.READY, dev.last_log

    # The page, through the gateway, under its base path.
    page = get_until(http, f"{live.apps_url}/apps/{app.slug}/dev", "Next Demo")
    # In dev each element names where it is written (data-mgx-src, for the Dev tab's Select).
    assert page.status_code == 200 and re.search(r'<h1 data-mgx-src="app/page\.tsx:\d+">Next Demo</h1>', page.text)

    # An edit in the workspace is served changed (next dev recompiles).
    source = (services.workspace_for(app).root / "app/page.tsx").read_text()
    file_write(app=app, path="app/page.tsx", content=source.replace("Your app is running.", "Edited through MGX."), user=owner)
    assert "Edited through MGX." in get_until(http, f"{live.apps_url}/apps/{app.slug}/dev", "Edited through MGX.").text

    # The HMR websocket upgrades through the proxy into the container.
    with connect(f"{live.apps_ws}/apps/{app.slug}/dev/_next/webpack-hmr", open_timeout=30,
                 additional_headers={"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.apps_url}) as ws:
        assert ws.protocol.state.name == "OPEN"

    # Limits, loopback-only ports, no Docker socket.
    attrs = docker.from_env().containers.get(container_name(slug=app.slug, role="dev")).attrs
    host = attrs["HostConfig"]
    assert host["Memory"] == 2 * 1024**3 and host["NanoCpus"] == 1_500_000_000 and host["PidsLimit"] == 1024
    assert all(b["HostIp"] == "127.0.0.1" for b in attrs["NetworkSettings"]["Ports"]["3000/tcp"])
    assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
    assert "no-new-privileges" in host["SecurityOpt"]
    assert attrs["Config"]["Labels"]["mgx.app"] == app.slug

    # Exec: output, exit code, cwd inside the workspace, timeout enforced.
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Content-Type": "application/json"}
    ran = http.post(f"{live.url}/api/apps/{app.slug}/exec", headers=csrf,
                    data=json.dumps({"command": "cat package.json | head -3; echo oops >&2; exit 3", "env": {"X": "1"}})).json()
    assert ran["exit_code"] == 3 and '"name": "next-demo"' in ran["stdout"] and ran["stderr"].strip() == "oops"
    tested = http.post(f"{live.url}/api/apps/{app.slug}/exec", headers=csrf, data=json.dumps({"command": "npm test", "timeout": 120})).json()
    assert tested["exit_code"] == 0 and "# fail 0" in tested["stdout"], tested["stdout"][-3000:]  # the template's own tests, in its container
    slow = http.post(f"{live.url}/api/apps/{app.slug}/exec", headers=csrf, data=json.dumps({"command": ["sleep", "30"], "timeout": 2})).json()
    assert slow["timed_out"] is True and slow["duration"] < 10
    bad = http.post(f"{live.url}/api/apps/{app.slug}/exec", headers=csrf, data=json.dumps({"command": "ls", "cwd": "../.."}))
    assert bad.status_code == 400

    # Someone else cannot run anything in it.
    user_factory(username="intruder")
    intruder = live.login("intruder", "correct horse battery")
    refused = intruder.post(f"{live.url}/api/apps/{app.slug}/exec", data=json.dumps({"command": "id"}),
                            headers={"X-CSRFToken": intruder.cookies["csrftoken"], "Content-Type": "application/json"})
    assert refused.status_code == 404

    # Stop: the preview answers with the friendly 502; the server is kept warm (paused).
    assert http.delete(f"{live.url}/api/apps/{app.slug}/dev", headers=csrf).json()["phase"] == "stopped"
    stopped = http.get(f"{live.apps_url}/apps/{app.slug}/dev/", timeout=10)
    assert stopped.status_code == 502 and "is not running" in stopped.text
    assert docker.from_env().containers.get(container_name(slug=app.slug, role="dev")).status == "paused"

    # Start again: the same container resumes, ready with nothing to install or compile.
    assert http.post(f"{live.url}/api/apps/{app.slug}/dev", headers={"X-CSRFToken": http.cookies["csrftoken"]}).status_code == 202
    dev = wait_for_phase(app, {Phase.READY, Phase.FAILED}, timeout=60)
    assert dev.phase == Phase.READY and dev.message == "Ready (resumed)"
    assert "Edited through MGX." in http.get(f"{live.apps_url}/apps/{app.slug}/dev", timeout=30).text

    # Restart makes a fresh one; the reaper removes a container kept warm too long.
    services.dev_stop(app=app, keep_warm=True)
    services.dev_reap_idle(now=time.time() + django_settings.MGX_DEV_KEEP_WARM + 60)
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(container_name(slug=app.slug, role="dev"))
    assert DevEnvironment.objects.get(app=app).container_id == ""


def test_fastapi_vite_dev_server_serves_the_frontend_and_proxies_the_api(live, runtime_image, app_factory, owner):
    app = app_factory(owner=owner, name="Vite Demo", framework="fastapi_vite")
    services.dev_start(app=app)
    dev = wait_for_phase(app, {Phase.READY, Phase.FAILED})
    assert dev.phase == Phase.READY, dev.last_log

    http = live.login("devowner", owner.raw_password)
    page = get_until(http, f"{live.apps_url}/apps/{app.slug}/dev/", "Vite Demo")
    assert page.status_code == 200 and "<title>Vite Demo</title>" in page.text
    assert f"/apps/{app.slug}/dev/src/main.jsx" in page.text or "@vite/client" in page.text
    api = get_until(http, f"{live.apps_url}/apps/{app.slug}/dev/api/health", "ok", timeout=60)
    assert api.json() == {"status": "ok", "app": app.slug}

    # Kept warm, but the manifest changed meanwhile: Start makes a fresh server that installs it.
    services.dev_stop(app=app, keep_warm=True)
    manifest = services.workspace_for(app).root / "frontend/package.json"
    file_write(app=app, path="frontend/package.json",
               content=manifest.read_text().replace('"private": true', '"private": true, "description": "changed"'), user=owner)
    services.dev_start(app=app)
    dev = wait_for_phase(app, {Phase.READY, Phase.FAILED})
    assert dev.phase == Phase.READY and dev.message == "Ready", (dev.message, dev.last_log)
    services.dev_stop(app=app)


def test_idle_dev_containers_are_stopped_by_the_reaper(live, runtime_image, app_factory, owner, settings):
    app = app_factory(owner=owner, name="Idle Demo", framework="nextjs")
    services.dev_start(app=app)
    assert wait_for_phase(app, {Phase.READY, Phase.FAILED}).phase == Phase.READY

    assert services.dev_reap_idle(now=time.time() + 60, keep_warm=True) == []  # recently started: kept
    stopped = services.dev_reap_idle(now=time.time() + settings.MGX_DEV_IDLE_TIMEOUT + 60, keep_warm=True)

    assert stopped == [app.slug]
    dev = DevEnvironment.objects.get(app=app)
    assert dev.phase == Phase.STOPPED and "idle" in dev.message
    # Kept warm (paused: no CPU) until MGX_DEV_KEEP_WARM has passed, then removed.
    assert docker.from_env().containers.get(container_name(slug=app.slug, role="dev")).status == "paused"
    services.dev_reap_idle(now=time.time() + settings.MGX_DEV_KEEP_WARM + 60)
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(container_name(slug=app.slug, role="dev"))


def test_a_restarted_worker_reconciles_with_what_docker_really_runs(live, runtime_image, app_factory, owner):
    app = app_factory(owner=owner, name="Restart Demo", framework="nextjs")
    services.dev_start(app=app)
    assert wait_for_phase(app, {Phase.READY, Phase.FAILED}).phase == Phase.READY
    engine = docker.from_env()

    worker = live.stack["celery"]
    procs.stop(live.layout, worker)
    # While MGX is down: its container dies, and a container of an app that no longer exists
    # is left behind.
    engine.containers.get(container_name(slug=app.slug, role="dev")).remove(force=True)
    orphan = engine.containers.create(runtime_image, ["sleep", "600"], name=container_name(slug="deleted-app", role="dev"),
                                      labels={"mgx.instance": instance_id(), "mgx.app": "deleted-app", "mgx.role": "dev"})
    try:
        procs.start(live.layout, worker)
        assert wait_for_phase(app, {Phase.STOPPED}, timeout=60).message == "Found stopped when MGX started"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and orphan.id in [c.id for c in engine.containers.list(all=True)]:
            time.sleep(0.5)
        assert orphan.id not in [c.id for c in engine.containers.list(all=True)]
    finally:
        try:
            orphan.remove(force=True)
        except docker.errors.NotFound:
            pass


def test_a_docker_engine_that_is_gone_gives_a_clear_message_and_changes_nothing(client, app_factory, owner, settings, tmp_path):
    from containers.docker_client import _client

    app = app_factory(owner=owner, name="No Engine")
    settings.MGX_DOCKER_HOST = f"unix://{tmp_path}/gone.sock"
    _client.cache_clear()
    try:
        client.force_login(owner)
        answer = client.post(f"/sessions/{app.slug}/dev/start", HTTP_HX_REQUEST="true")
        assert answer.status_code == 422
        assert "Docker engine does not answer" in answer.content.decode()
        refused = client.post(f"/api/apps/{app.slug}/dev")
        assert refused.status_code == 503
        assert refused.json()["error"]["message"].startswith("The Docker engine does not answer")
        assert str(tmp_path) not in refused.content.decode()  # the engine's address is not the caller's business
        assert not DevEnvironment.objects.filter(app=app).exclude(phase=Phase.STOPPED).exists()
    finally:
        _client.cache_clear()


def test_a_broken_app_fails_at_its_step_with_the_reason_in_the_log(live, runtime_image, app_factory, owner):
    app = app_factory(owner=owner, name="Broken Demo", framework="nextjs")
    file_write(app=app, path="package.json", content='{"name": "broken", "dependencies": {', user=owner)
    services.dev_start(app=app)

    dev = wait_for_phase(app, {Phase.READY, Phase.FAILED})

    assert dev.phase == Phase.FAILED and dev.message.startswith("The dev server exited with code")
    assert dev.step == Phase.INSTALLING
    assert [state for _, state in dev.step_state()] == ["done", "failed", "todo", "todo"]
    assert "JSON" in dev.last_log  # npm's own words about package.json
    http = live.login("devowner", owner.raw_password)
    panel = http.get(f"{live.url}/sessions/{app.slug}/dev/panel", timeout=10).text
    assert "step-failed" in panel and "Installing dependencies" in panel
