"""Production builds, deploys, rollback and variables on the real Docker engine, served through
the live gateway on the apps origin.

Most tests use an app whose Dockerfile is a few seconds' build (python's http.server serving the
base path) so a deploy, a switch, a rollback and failures are cheap; one test builds and deploys
the real FastAPI + Vite template end to end (minutes on this machine)."""
import json
import re
import threading
import time

import docker
import pytest
import requests
from websockets.sync.client import connect

from containers.docker_client import instance_id
from deployments import builds, production, selectors
from deployments.models import Build, Release
from deployments.tasks import prod_reconcile_task
from workspaces.services import file_write, workspace_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "planted-Secret-7f3a9c"

# A tiny "app": its health endpoint and page are files under the base path. It prints its
# environment on start, as a careless app might.
TINY_DOCKERFILE = """\
ARG BASE_IMAGE=mgx/runtime:1
FROM ${BASE_IMAGE}
ARG MGX_BASE_PATH=
WORKDIR /srv/site
COPY page.html ./page.html
RUN mkdir -p ./$MGX_BASE_PATH && cp page.html ./$MGX_BASE_PATH/index.html \\
    && echo '{"status": "ok"}' > ./$MGX_BASE_PATH/healthz
USER 1000:1000
CMD ["sh", "-c", "env; exec python3 -m http.server 3000 -d /srv/site"]
"""
# Builds fine, never answers its health endpoint: prints the environment and exits.
DYING_DOCKERFILE = """\
ARG BASE_IMAGE=mgx/runtime:1
FROM ${BASE_IMAGE}
CMD ["sh", "-c", "echo starting; env; echo giving up; exit 3"]
"""
BROKEN_DOCKERFILE = """\
ARG BASE_IMAGE=mgx/runtime:1
FROM ${BASE_IMAGE}
RUN echo about to fail && false
"""


def wait_for(read, done, timeout=600, what="state"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} still {read()!r} after {timeout}s")


def settled_build(build):
    return wait_for(lambda: Build.objects.get(pk=build.pk), lambda b: not b.is_active, what=f"build {build.pk}")


def settled_release(release, timeout=300):
    return wait_for(lambda: Release.objects.get(pk=release.pk), lambda r: r.status != "starting", timeout=timeout,
                    what=f"release {release.pk}")


def prod_page(live, app, needle, timeout=30):
    url = f"{live.apps_url}/apps/{app.slug}/prod/"
    return wait_for(lambda: requests.get(url, timeout=10), lambda r: needle in r.text, timeout=timeout, what=url)


class Events:
    """Everything the app's websocket says while the test runs (for the secret grep)."""

    def __init__(self, live, http, app):
        headers = {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}
        self.ws = connect(f"{live.ws_url}/ws/apps/{app.slug}/", additional_headers=headers, open_timeout=10)
        self.seen: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for raw in self.ws:
                self.seen.append(json.loads(raw))
        except Exception:
            pass

    def close(self):
        self.ws.close()
        self.thread.join(timeout=5)
        return self.seen


@pytest.fixture
def owner(user_factory):
    return user_factory(username="prodowner")


def tiny_app(app_factory, owner, name="Tiny Prod"):
    app = app_factory(owner=owner, name=name, framework="nextjs")
    file_write(app=app, path="Dockerfile", content=TINY_DOCKERFILE, user=owner)
    file_write(app=app, path="page.html", content="<h1>version one</h1>\n", user=owner)
    return app


def test_build_deploy_change_rollback_and_failures_keep_the_live_release(live, runtime_image, app_factory, owner):
    app = tiny_app(app_factory, owner)
    http = live.login("prodowner", owner.raw_password)
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Content-Type": "application/json"}
    api = f"{live.url}/api/apps/{app.slug}/prod"
    events = Events(live, http, app)
    assert http.put(f"{api}/env/API_TOKEN", headers=csrf, data=json.dumps({"value": SECRET, "secret": True})).status_code == 200
    assert http.put(f"{api}/env/GREETING", headers=csrf, data=json.dumps({"value": "hello"})).status_code == 200

    # Not deployed yet: the gateway says so; deploy without a build is refused with a reason.
    assert http.get(f"{api}/status").json()["status"] == "not_deployed"
    refused = http.post(f"{api}/deploy", headers=csrf)
    assert refused.status_code == 409 and "build it first" in refused.json()["error"]["message"]

    # Build 1: queued, a second request while it runs says one is running.
    first = http.post(f"{api}/build", headers=csrf)
    assert first.status_code == 202, first.text
    again = http.post(f"{api}/build", headers=csrf)
    assert again.status_code == 409 and "still running" in again.json()["error"]["message"]
    build1 = settled_build(Build.objects.get(pk=first.json()["id"]))
    assert build1.status == "succeeded", build1.message
    commit = build1.commit
    assert first.json()["commit"] == commit
    assert build1.images["app"]["tag"] == f"mgx-app/{app.slug}:{commit}"
    stored = http.get(f"{api}/builds/{build1.pk}").json()["log"]
    assert any("Step 1/" in line for line in stored) and any("built" in line for line in stored)

    # Deploy 1: healthy, switched, served publicly (no MGX login) on the apps origin.
    deployed = http.post(f"{api}/deploy", headers=csrf)
    assert deployed.status_code == 202, deployed.text
    release1 = settled_release(Release.objects.get(pk=deployed.json()["id"]))
    assert release1.status == "live", (release1.message, release1.last_log)
    assert "version one" in requests.get(f"{live.apps_url}/apps/{app.slug}/prod/", timeout=10).text
    status = http.get(f"{api}/status").json()
    assert status["status"] == "live" and status["live"]["number"] == 1 and status["live"]["commit"] == commit

    # The container: hardened, limited, loopback port, restart policy, the app's environment.
    engine = docker.from_env()
    attrs = engine.containers.get(release1.containers["app"]).attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "1000:1000" and host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"]
    assert "no-new-privileges" in host["SecurityOpt"] and host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["Memory"] == 1024**3 and host["PidsLimit"] == 512
    assert all(b["HostIp"] == "127.0.0.1" for b in attrs["NetworkSettings"]["Ports"]["3000/tcp"])
    assert not any("docker.sock" in m.get("Source", "") for m in attrs["Mounts"])
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert env["GREETING"] == "hello" and env["API_TOKEN"] == SECRET
    assert env["MGX_BASE_PATH"] == f"/apps/{app.slug}/prod" and env["MONGODB_DB"] == f"app_{app.slug}"

    # Change one line, rebuild (the base layer is reused), redeploy: the change is served and
    # the old release's container is gone.
    file_write(app=app, path="page.html", content="<h1>version two</h1>\n", user=owner)
    build2 = settled_build(builds.build_request(app=app, user=owner))
    assert build2.status == "succeeded" and build2.commit != commit
    release2 = settled_release(production.release_request(app=app, user=owner))
    assert release2.status == "live", release2.message
    prod_page(live, app, "version two")
    assert Release.objects.get(pk=release1.pk).status == "stopped"
    # After a short drain (requests it already took finish), the old container goes.
    wait_for(lambda: engine.containers.list(all=True, filters={"label": [f"mgx.release={release1.pk}", f"mgx.instance={instance_id()}"]}), lambda c: not c,
             timeout=30, what="release 1's containers")

    # A broken build fails at its step with its last lines; release 2 keeps serving.
    file_write(app=app, path="Dockerfile", content=BROKEN_DOCKERFILE, user=owner)
    broken = settled_build(builds.build_request(app=app, user=owner))
    assert broken.status == "failed" and "(RUN echo about to fail && false)" in broken.message and "exited with code 1" in broken.message
    assert "about to fail" in "\n".join(selectors.build_log_lines(build=broken))
    assert "version two" in requests.get(f"{live.apps_url}/apps/{app.slug}/prod/", timeout=10).text

    # An unhealthy release is not switched to: stopped, the reason and its last lines shown,
    # the secret it printed masked; release 2 keeps serving.
    file_write(app=app, path="Dockerfile", content=DYING_DOCKERFILE, user=owner)
    dying = settled_build(builds.build_request(app=app, user=owner))
    assert dying.status == "succeeded"
    bad = settled_release(production.release_request(app=app, user=owner))
    assert bad.status == "failed" and "exited with code 3" in bad.message and "Release #2 keeps serving" in bad.message
    assert "giving up" in bad.last_log and "GREETING=hello" in bad.last_log and SECRET not in bad.last_log
    assert not engine.containers.list(all=True, filters={"label": [f"mgx.release={bad.pk}", f"mgx.instance={instance_id()}"]})
    assert "version two" in requests.get(f"{live.apps_url}/apps/{app.slug}/prod/", timeout=10).text
    panel = http.get(f"{live.url}/sessions/{app.slug}/?tab=prod").text
    assert "Release #3 failed" in panel and "giving up" in panel

    # Roll back to release 1: its image again (no new build), version one served.
    builds_before = Build.objects.filter(app=app).count()
    rolled = http.post(f"{api}/releases/{release1.pk}/rollback", headers=csrf)
    assert rolled.status_code == 202, rolled.text
    release4 = settled_release(Release.objects.get(pk=rolled.json()["id"]))
    assert release4.status == "live" and release4.build_id == build1.pk and release4.rollback_of_id == release1.pk
    prod_page(live, app, "version one")
    assert Build.objects.filter(app=app).count() == builds_before
    history = http.get(f"{api}/releases").json()
    assert [(r["number"], r["status"]) for r in history] == [(4, "live"), (3, "failed"), (2, "stopped"), (1, "stopped")]

    # The planted secret appears nowhere a user or a page can read.
    listed = http.get(f"{api}/env").json()
    assert {"name": "API_TOKEN", "secret": True, "value": None} == {k: listed[0][k] for k in ("name", "secret", "value")}
    texts = [json.dumps(listed), json.dumps(history), http.get(f"{api}/status").text,
             http.get(f"{live.url}/sessions/{app.slug}/?tab=prod").text,
             *["\n".join(selectors.build_log_lines(build=b)) for b in Build.objects.filter(app=app)],
             *[r.last_log + r.message for r in Release.objects.filter(app=app)]]
    seen = events.close()
    assert any(e["kind"] == "build.log" for e in seen) and any(e["kind"] == "release.status" for e in seen)
    texts.append(json.dumps(seen))
    assert not [t[:200] for t in texts if SECRET in t]

    # Stop: the prod route answers "not deployed" again, no container of the app is left.
    assert http.post(f"{api}/stop", headers=csrf).json()["status"] == "not_deployed"
    gone = requests.get(f"{live.apps_url}/apps/{app.slug}/prod/", timeout=10)
    assert "not deployed" in gone.text
    assert not engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}", "mgx.role=prod"]})


def test_a_worker_killed_mid_build_and_mid_deploy_leaves_truthful_records_and_the_app_serving(live, runtime_image, app_factory, owner):
    app = tiny_app(app_factory, owner, name="Crash Prod")
    build = settled_build(builds.build_request(app=app, user=owner))
    live_release = settled_release(production.release_request(app=app, user=owner))
    assert live_release.status == "live"
    # What a worker killed mid-way leaves behind: a build row still "building", a release still
    # "starting" with its container running and the route possibly already pointing at it.
    stuck_build = Build.objects.create(app=app, number=99, commit=build.commit, status="building")
    engine = docker.from_env()
    stuck = Release.objects.create(app=app, build=build, number=99, status="starting")
    from containers.sandbox import network_ensure

    stuck.network = network_ensure(name=production._network_name(stuck), labels=production._labels(stuck, "network"))
    stuck.save()
    config = production._container_config(stuck, role="app", image=build.images["app"]["id"], env={}, port=3000,
                                          network=stuck.network)
    orphan = engine.containers.run(**config)
    orphan.reload()
    from containers.docker_client import published_port
    from deployments.gateway import gateway, route_for

    gateway().set_route(route_for(slug=app.slug, stage="prod", upstream=f"127.0.0.1:{published_port(orphan, 3000)}"))

    result = prod_reconcile_task.apply().get()  # what the worker runs when it starts again

    assert stuck_build.pk in result["builds_failed"]
    assert Build.objects.get(pk=stuck_build.pk).status == "failed"
    assert Release.objects.get(pk=stuck.pk).status == "failed"
    assert Release.objects.get(pk=live_release.pk).status == "live"
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(orphan.id)
    with pytest.raises(docker.errors.NotFound):  # and the network of its own it was on
        engine.networks.get(stuck.network)
    route = gateway().routes()[f"{app.slug}-prod"]
    assert route.upstream == f"127.0.0.1:{Release.objects.get(pk=live_release.pk).host_port}"
    prod_page(live, app, "version one")
    # A redelivered task for the failed ones does nothing.
    assert builds.build_run(build=stuck_build).status == "failed"
    assert production.release_deploy(release=stuck).status == "failed"
    production.prod_stop(app=app)


def test_variables_refuse_contract_names_and_never_show_secret_values(live, app_factory, owner):
    app = app_factory(owner=owner, name="Vars App", framework="nextjs")
    http = live.login("prodowner", owner.raw_password)
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Content-Type": "application/json"}
    api = f"{live.url}/api/apps/{app.slug}/prod/env"
    for name in ("MONGODB_URL", "MGX_OAUTH_CLIENT_SECRET", "1BAD"):
        refused = http.put(f"{api}/{name}", headers=csrf, data=json.dumps({"value": "x"}))
        assert refused.status_code == 422, (name, refused.text)
    assert http.get(api).json() == []
    assert http.put(f"{api}/DB_PASSWORD", headers=csrf, data=json.dumps({"value": SECRET, "secret": True})).status_code == 200
    page = http.get(f"{live.url}/sessions/{app.slug}/?tab=prod")
    assert "DB_PASSWORD" in page.text and "secret · set" in page.text and SECRET not in page.text
    assert SECRET not in http.get(api).text
    assert http.delete(f"{api}/DB_PASSWORD", headers=csrf).json() == []


@pytest.mark.timeout(1800)
def test_fastapi_vite_template_builds_two_images_and_serves_through_the_frontend(live, runtime_image, app_factory, owner):
    """The real template: backend and frontend images, a network of the release's own, the API
    reached through the frontend's proxy at `backend`. Minutes on a cold cache."""
    app = app_factory(owner=owner, name="Vite Prod", framework="fastapi_vite")
    build = builds.build_request(app=app, user=owner)
    build = wait_for(lambda: Build.objects.get(pk=build.pk), lambda b: not b.is_active, timeout=1500, what="vite build")
    assert build.status == "succeeded", (build.message, selectors.build_log_lines(build=build)[-30:])
    assert set(build.images) == {"backend", "frontend"}
    assert build.images["backend"]["tag"] == f"mgx-app/{app.slug}-backend:{build.commit}"
    release = settled_release(production.release_request(app=app, user=owner))
    assert release.status == "live", (release.message, release.last_log)
    page = prod_page(live, app, "Vite Prod")
    assert f"/apps/{app.slug}/prod/assets/" in page.text
    health = requests.get(f"{live.apps_url}/apps/{app.slug}/prod/api/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # Production logs: both containers, the backend's access line for that request among them.
    http = live.login("prodowner", owner.raw_password)
    logs = wait_for(lambda: http.get(f"{live.url}/api/apps/{app.slug}/logs", params={"target": "prod", "tail": 200},
                                     timeout=10).json(),
                    lambda body: any("api/healthz" in line["line"] for line in body.get("lines", [])),
                    timeout=30, what="production logs")
    assert {line["container"] for line in logs["lines"]} == {"prod-backend", "prod-frontend"}

    # A backend-only change: the backend is built again, the frontend's image is used again.
    main_py = workspace_for(app).root / "backend/app/main.py"
    file_write(app=app, path="backend/app/main.py", content=main_py.read_text() + "\n# one-line change\n", user=owner)
    again = builds.build_request(app=app, user=owner)
    again = wait_for(lambda: Build.objects.get(pk=again.pk), lambda b: not b.is_active, timeout=600, what="rebuild")
    assert again.status == "succeeded", (again.message, selectors.build_log_lines(build=again)[-30:])
    assert again.images["frontend"]["id"] == build.images["frontend"]["id"]
    assert again.images["backend"]["id"] != build.images["backend"]["id"]
    assert any("unchanged since the last build" in line for line in selectors.build_log_lines(build=again))
    engine = docker.from_env()
    network = engine.networks.get(release.network)
    # This release's two containers and nobody else's.
    assert set(network.attrs["Containers"]) == set(release.containers.values())
    production.prod_stop(app=app)
    with pytest.raises(docker.errors.NotFound):
        engine.networks.get(release.network)


@pytest.mark.timeout(1800)
def test_nextjs_template_builds_one_image_and_serves_its_prod_base_path(live, runtime_image, app_factory, owner):
    """The real Next.js template: one image built for /apps/<slug>/prod (minutes on a cold cache)."""
    app = app_factory(owner=owner, name="Next Prod", framework="nextjs")
    file_write(app=app, path="public/robots.txt", content="User-agent: *\nDisallow: /next-prod-test\n", user=owner)
    build = builds.build_request(app=app, user=owner)
    build = wait_for(lambda: Build.objects.get(pk=build.pk), lambda b: not b.is_active, timeout=1500, what="next build")
    assert build.status == "succeeded", (build.message, selectors.build_log_lines(build=build)[-30:])
    assert build.images["app"]["tag"] == f"mgx-app/{app.slug}:{build.commit}"
    release = settled_release(production.release_request(app=app, user=owner))
    assert release.status == "live", (release.message, release.last_log)
    page = prod_page(live, app, "Next Prod")
    assert f"/apps/{app.slug}/prod/_next/static/" in page.text
    # The page's scripts and the app's public/ files are in the image and served under the base path.
    script = re.search(rf'src="(/apps/{app.slug}/prod/_next/static/[^"]+\.js)"', page.text)[1]
    chunk = requests.get(f"{live.apps_url}{script}", timeout=10)
    assert chunk.status_code == 200 and "javascript" in chunk.headers["content-type"], (script, chunk.status_code)
    robots = requests.get(f"{live.apps_url}/apps/{app.slug}/prod/robots.txt", timeout=10)
    assert robots.status_code == 200 and "Disallow: /next-prod-test" in robots.text
    assert requests.get(f"{live.apps_url}/apps/{app.slug}/prod/healthz", timeout=10).json()["status"] == "ok"
    production.prod_stop(app=app)


def test_a_release_container_that_died_before_its_port_is_read_fails_the_release(runtime_image):
    # Docker publishes no port for a container that has exited or waits to restart. A release
    # that died before MGX read its port raised KeyError there, escaped the deploy and stayed
    # "starting" for good (the rollback test timed out on its dying release, twice, under load).
    # Exited rather than restarting here: a restart would publish the port again at any moment.
    engine = docker.from_env()
    dying = engine.containers.run(runtime_image, ["sh", "-c", "exit 3"], detach=True, ports={"3000/tcp": ("127.0.0.1", None)},
                                  labels={"mgx.instance": instance_id()})
    try:
        wait_for(lambda: (dying.reload(), dying.attrs["State"])[1], lambda s: s["Status"] == "exited",
                 timeout=30, what="the container's state")
        with pytest.raises(production._Unhealthy, match="exited with code 3 before it became healthy"):
            production.serving_port(dying, 3000, role="app")
    finally:
        dying.remove(force=True)
