"""Apps never reach each other, and a build runs no one's code with privilege (Isolation II).

Two ordinary users, two apps, on the real Docker engine: what app A's code can do to app B's
containers, from A's dev server and from a step of A's production build, and what a build can do
at all (run as root, hold a capability, start from another app's image, fetch from the host's
loopback, fork without end, run forever). Every container of an app is made by the one sandbox
recipe (containers.sandbox), whose rotating log is checked here too.
"""
import time

import docker
import pytest
from django.conf import settings as django_settings

from containers.docker_client import container_name, instance_id, labels
from containers.sandbox import app_network_ensure, app_network_name, sandbox
from deployments import builds, production, selectors, services
from deployments.models import Build, DevEnvironment
from studio.services import app_delete
from workspaces.services import file_write

from .test_production import settled_build, settled_release, tiny_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]
Phase = DevEnvironment.Phase
SSH_PORT = 2222  # every dev container's sshd starts first, so it is the port to knock on


def _probe(host: str, port: int, seconds: int = 4) -> str:
    """A shell line that prints OPEN when a TCP connection to host:port succeeds, else CLOSED."""
    return (f"if timeout {seconds} bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null; "
            f"then echo OPEN; else echo CLOSED; fi")


def _container(app, role="dev"):
    return docker.from_env().containers.get(container_name(slug=app.slug, role=role))


def _address(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def _running_dev(app):
    """Start the app's dev server and return once its container runs (its sshd answers soon after;
    the dev server itself need not be ready)."""
    services.dev_start(app=app)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        dev = DevEnvironment.objects.get(app=app)
        if dev.container_id and dev.phase != Phase.FAILED:
            return _container(app)
        assert dev.phase != Phase.FAILED, dev.message
        time.sleep(0.5)
    raise AssertionError(f"{app.slug}: no dev container after 300 s")


def _until_open(app, host: str, port: int) -> str:
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:
        seen = services.dev_exec(app=app, command=_probe(host, port), timeout=20).stdout.strip()
        if seen == "OPEN":
            return seen
        time.sleep(1)
    return seen


@pytest.fixture
def alice(user_factory):
    return user_factory(username="alice-apart")


@pytest.fixture
def bob(user_factory):
    return user_factory(username="bob-apart")


def test_an_apps_code_cannot_reach_another_apps_dev_server_release_or_build(live, runtime_image, app_factory, alice, bob):
    mine = tiny_app(app_factory, alice, name="Alice Apart")
    theirs = tiny_app(app_factory, bob, name="Bob Apart")
    bob_dev = _running_dev(theirs)
    alice_dev = _running_dev(mine)
    bob_release = settled_release(production.release_request(
        app=theirs, user=bob, build_id=settled_build(builds.build_request(app=theirs, user=bob)).pk))
    assert bob_release.status == "live", bob_release.message

    # Each app's containers sit on a network of that app's own, none on Docker's default bridge.
    bob_ip = _address(bob_dev, app_network_name(slug=theirs.slug))
    alice_ip = _address(alice_dev, app_network_name(slug=mine.slug))
    assert list(bob_dev.attrs["NetworkSettings"]["Networks"]) == [app_network_name(slug=theirs.slug)]
    assert list(alice_dev.attrs["NetworkSettings"]["Networks"]) == [app_network_name(slug=mine.slug)]
    release_container = docker.from_env().containers.get(bob_release.containers["app"])
    release_ip = _address(release_container, bob_release.network)

    # The probe works: each dev container reaches its own sshd, and the host's internal listener
    # (what every app container may call) answers.
    assert _until_open(theirs, bob_ip, SSH_PORT) == "OPEN"
    assert _until_open(mine, alice_ip, SSH_PORT) == "OPEN"
    internal = _probe("host.docker.internal", django_settings.MGX_INTERNAL_PORT)
    assert services.dev_exec(app=mine, command=internal, timeout=20).stdout.strip() == "OPEN"

    # Alice's code reaches neither Bob's dev server nor his live release by address.
    assert services.dev_exec(app=mine, command=_probe(bob_ip, SSH_PORT), timeout=20).stdout.strip() == "CLOSED"
    assert services.dev_exec(app=mine, command=_probe(release_ip, 3000), timeout=20).stdout.strip() == "CLOSED"

    # Nor does a step of Alice's production build.
    file_write(app=mine, path="Dockerfile", user=alice, content=(
        "FROM mgx/runtime:1\n"
        f"RUN echo dev-server-$({_probe(bob_ip, SSH_PORT)}) release-$({_probe(release_ip, 3000)})\n"))
    build = settled_build(builds.build_request(app=mine, user=alice))
    log = "\n".join(selectors.build_log_lines(build=build))
    assert build.status == "succeeded", log
    assert "dev-server-CLOSED release-CLOSED" in log, log

    # Deleting an app takes its network, its images and every build container with it.
    services.dev_stop(app=mine)
    app_delete(app=mine)
    engine = docker.from_env()
    with pytest.raises(docker.errors.NotFound):
        engine.networks.get(app_network_name(slug=mine.slug))
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(build.images["app"]["id"])
    assert not engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={mine.slug}"]})
    production.prod_stop(app=theirs)
    services.dev_stop(app=theirs)


RAW = "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('RAW', 'SOCKET', 'OPENED')"


def test_no_step_of_a_build_runs_as_root_or_holds_a_capability(live, runtime_image, app_factory, alice):
    app = app_factory(owner=alice, name="Build Rights", framework="nextjs")
    file_write(app=app, path="Dockerfile", user=alice, content=(
        "FROM mgx/runtime:1\n"
        "RUN echo uid=$(id -u) && grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status\n"
        "RUN cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null | sed 's/^/pids=/'\n"
        f'RUN python3 -c "{RAW}"\n'))
    build = settled_build(builds.build_request(app=app, user=alice))
    log = "\n".join(selectors.build_log_lines(build=build))

    assert "uid=1000" in log and "uid=0" not in log, log
    assert "CapEff:\t0000000000000000" in log and "CapBnd:\t0000000000000000" in log, log
    assert "NoNewPrivs:\t1" in log, log
    assert f"pids={django_settings.MGX_BUILD_PIDS}" in log, log
    # No raw socket (no NET_RAW): no ARP spoofing of anyone's traffic.
    assert build.status == "failed" and "RAW SOCKET OPENED" not in log, log
    assert "Operation not permitted" in log and "step 4/4" in build.message, build.message


def test_a_build_starts_only_from_mgxs_own_images_and_fetches_nothing_through_the_engine(live, runtime_image,
                                                                                         app_factory, alice, bob):
    theirs = tiny_app(app_factory, bob, name="Bob Image")
    their_build = settled_build(builds.build_request(app=theirs, user=bob))
    assert their_build.status == "succeeded"
    their_image = their_build.images["app"]
    mine = app_factory(owner=alice, name="Alice Thief", framework="nextjs")
    engine = docker.from_env()

    refused = {
        f"FROM {their_image['id'][7:11]}\n": "FROM " + their_image["id"][7:11] + " is refused",
        f"FROM {their_image['id']}\n": "is refused",
        f"FROM {their_image['tag']}\n": "is refused",
        "FROM mgx/runtime:1\nCOPY --from=" + their_image["tag"] + " /srv /loot\n": "no earlier stage has that name",
        f"FROM mgx/runtime:1\nADD http://127.0.0.1:{django_settings.MGX_PORT}/healthz /x\n": "ADD http://127.0.0.1",
        "FROM mgx/runtime:1\nUSER root\nRUN id\n": "USER root is refused",
        "FROM mgx/runtime:1\nRUN --mount=type=bind,source=/,target=/host ls /host\n": "RUN --mount is not supported",
    }
    for dockerfile, reason in refused.items():
        file_write(app=mine, path="Dockerfile", user=alice, content=dockerfile)
        build = settled_build(builds.build_request(app=mine, user=alice))
        log = "\n".join(selectors.build_log_lines(build=build))
        assert build.status == "failed" and reason in build.message, (dockerfile, build.message)
        # Refused before anything ran: not a single step was started, no container was made.
        assert "Step 1/" not in log, (dockerfile, log)
    assert not engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={mine.slug}"]})


def _queued_build(app) -> Build:
    """A build row as build_request makes it, without queueing its task: this test runs the build
    itself, under its own settings."""
    from workspaces import git
    from workspaces.services import workspace_for

    number = Build.objects.filter(app=app).count() + 1
    return Build.objects.create(app=app, number=number, commit=git.head(workspace_for(app).root),
                                status=Build.Status.QUEUED)


def test_a_build_that_forks_without_end_or_runs_too_long_is_stopped(live, runtime_image, app_factory, alice, settings):
    app = app_factory(owner=alice, name="Build Bounds", framework="nextjs")
    settings.MGX_BUILD_PIDS = 64
    file_write(app=app, path="Dockerfile", user=alice, content=(
        "FROM mgx/runtime:1\n"
        "RUN for i in $(seq 200); do sleep 60 & done; wait\n"))
    forked = builds.build_run(build=_queued_build(app))
    assert forked.status == "failed", forked.message
    assert "step 2/2" in forked.message and "exited with code" in forked.message, forked.message

    settings.MGX_BUILD_PIDS = 2048
    settings.MGX_BUILD_TIMEOUT = 5
    file_write(app=app, path="Dockerfile", user=alice, content="FROM mgx/runtime:1\nRUN sleep 600\n")
    slow = builds.build_run(build=_queued_build(app))
    assert slow.status == "failed" and "took longer than" in slow.message and "RUN sleep 600" in slow.message, slow.message
    # Neither left a stage container behind.
    assert not docker.from_env().containers.list(
        all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}", "mgx.role=build"]})


def test_app_container_logs_rotate(live, runtime_image, app_factory, alice, settings):
    """200 MB of output once made a 357 MB log file on the host: every app container's log now
    rotates at MGX_CONTAINER_LOG_MAX_SIZE, keeping MGX_CONTAINER_LOG_MAX_FILES files."""
    app = app_factory(owner=alice, name="Loud App", framework="nextjs")
    settings.MGX_CONTAINER_LOG_MAX_SIZE = "1m"
    settings.MGX_CONTAINER_LOG_MAX_FILES = 2
    engine = docker.from_env()
    loud = engine.containers.run(
        runtime_image, ["sh", "-c", "head -c 8000000 /dev/zero | tr '\\0' 'x' | fold -w 100"],
        name=container_name(slug=app.slug, role="loud"), labels=labels(slug=app.slug, role="dev"),
        **sandbox(kind="dev", network=app_network_ensure(slug=app.slug)), detach=True)
    try:
        assert loud.wait(timeout=120)["StatusCode"] == 0
        loud.reload()
        path = loud.attrs["LogPath"]
        # Read from the host: the rotated files beside the log, together at most max-size × max-file.
        from pathlib import Path

        files = sorted(Path(path).parent.glob(Path(path).name + "*"))
        assert 1 <= len(files) <= 2, files
        assert sum(f.stat().st_size for f in files) <= 2 * 1024 * 1024 + 64 * 1024, [f.stat().st_size for f in files]
    finally:
        loud.remove(force=True)
