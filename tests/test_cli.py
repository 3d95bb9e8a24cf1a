"""`./mgx` as a new user runs it: a real `up` (Redis, MongoDB store, Daphne, the apps gateway,
Celery) in a fresh
data directory on free ports, twice, then `status` and `down`; and the faults it must report
without leaving anything half-started."""
import os
import socket
import sqlite3
import signal
import subprocess
from pathlib import Path

import docker
import pytest
import requests

from mgx_site.cli import procs
from mgx_site.cli.commands import DEV_IMAGE_BUILD

REPO = Path(__file__).resolve().parent.parent


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def instance(tmp_path):
    """Environment for a separate MGX instance, as a user's shell would have it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MGX_") and k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        MGX_VAR_DIR=str(tmp_path / "var"),
        MGX_PORT=str(_free_port()),
        MGX_APPS_PORT=str(_free_port()),
        MGX_INTERNAL_PORT=str(_free_port()),  # not MGX_PORT + 1, which nobody checked was free
        MGX_REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0",
        MGX_MONGO_URL=f"mongodb://127.0.0.1:{_free_port()}/mgx",
        MGX_APPS_MONGO_PORT=str(_free_port()),
        MGX_APPS_MONGO_STORE_PORT=str(_free_port()),
        MGX_CELERY_CONCURRENCY="1",
        MGX_ENV_FILE="",  # the developer's .env is not this instance's
    )
    yield env
    subprocess.run([str(REPO / "mgx"), "down"], env=env, capture_output=True, timeout=120)


def mgx(env, *args, timeout=240):
    return subprocess.run([str(REPO / "mgx"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _pids(env):
    layout = procs.Layout(Path(env["MGX_VAR_DIR"]))
    return {p.name: procs.running_pid(layout, p) for p in procs.stack(layout, env)}


def _superusers(env):
    with sqlite3.connect(Path(env["MGX_VAR_DIR"]) / "mgx.sqlite3") as db:
        return db.execute("select username from auth_user where is_superuser = 1").fetchall()


def test_up_twice_brings_mgx_up_once_and_the_second_run_changes_nothing(instance):
    first = mgx(instance, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "password:" in first.stdout
    url = f"http://127.0.0.1:{instance['MGX_PORT']}/"
    assert f"MGX is up: {url}" in first.stdout
    pids = _pids(instance)
    assert all(pids.values()), pids
    health = requests.get(url + "healthz", timeout=15)
    assert health.status_code == 200, health.text
    login = requests.get(url, timeout=10)
    assert "Log in to MGX" in login.text  # the home page asks an anonymous visitor to log in
    apps = f"http://127.0.0.1:{instance['MGX_APPS_PORT']}"
    assert f"(apps: {apps})" in first.stdout
    moved = requests.get(url + "apps/nothing/prod/", allow_redirects=False, timeout=10)
    assert moved.status_code == 308 and moved.headers["Location"] == f"{apps}/apps/nothing/prod/"
    answer = requests.get(moved.headers["Location"], timeout=10)
    assert answer.status_code == 404 and "Not found" in answer.text  # the gateway answers: no such app

    second = mgx(instance, "up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("already running") == len(_pids(instance))  # every service of the stack
    assert "password:" not in second.stdout  # shown once, never again
    assert _pids(instance) == pids
    assert _superusers(instance) == [("admin",)]

    status = mgx(instance, "status")
    assert status.returncode == 0
    for label in ("Redis", "MongoDB store", "Daphne", "Apps gateway", "Celery worker", "Docker engine"):
        line = next(line for line in status.stdout.splitlines() if line.startswith(label))
        assert " up " in line, status.stdout

    down = mgx(instance, "down")
    assert down.returncode == 0
    assert not any(_pids(instance).values())
    assert mgx(instance, "status").returncode == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "healthz", timeout=5)


def _untag(engine, name):
    try:
        engine.images.remove(name)  # only this name: its layers are the dev image's
    except docker.errors.ImageNotFound:
        pass


def _held_background_build(instance, layout, engine) -> int:
    """`up`, then its background dev image build held where it is (SIGSTOP): the same process a
    build of minutes would be, for as long as the test needs. From the engine's cache it may
    finish in a second or two, before the test sees it: then `up` is asked again."""
    for _ in range(3):
        first = mgx(instance, "up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "building in the background" in first.stdout
        pid = procs.running_pid(layout, DEV_IMAGE_BUILD)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pid = None
        if pid is not None and procs.running_pid(layout, DEV_IMAGE_BUILD) == pid:
            return pid
        _untag(engine, instance["MGX_DEV_IMAGE"])
    raise AssertionError("the background build ended each time before it could be held")


def test_down_stops_the_dev_image_build_up_left_in_the_background(instance):
    # A dev image that is not there (a name of this test's own): `up` makes it in the background.
    instance["MGX_DEV_IMAGE"] = f"mgx-test/dev:cli-{os.getpid()}"
    engine = docker.from_env()
    layout = procs.Layout(Path(instance["MGX_VAR_DIR"]))
    try:
        pid = _held_background_build(instance, layout, engine)

        second = mgx(instance, "up")  # not a second build beside the first
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"still being built in the background (pid {pid}" in second.stdout
        assert procs.running_pid(layout, DEV_IMAGE_BUILD) == pid
        status = mgx(instance, "status")
        assert any(line.startswith("Dev image build") and str(pid) in line for line in status.stdout.splitlines())

        down = mgx(instance, "down")
        assert down.returncode == 0
        assert f"stopped (pid {pid})" in next(line for line in down.stdout.splitlines() if "Dev image build" in line)
        assert procs.running_pid(layout, DEV_IMAGE_BUILD) is None
        assert "Dev image build" not in mgx(instance, "status").stdout
    finally:
        _untag(engine, instance["MGX_DEV_IMAGE"])


def test_up_refuses_a_taken_web_port_and_starts_nothing(instance):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(instance["MGX_PORT"])))
        squatter.listen()
        result = mgx(instance, "up")

    assert result.returncode != 0
    assert "Daphne" in result.stderr and instance["MGX_PORT"] in result.stderr
    assert "MGX_PORT" in result.stderr  # says which setting moves it
    assert not any(_pids(instance).values())
    assert not procs.redis_answers(instance["MGX_REDIS_URL"])


def test_up_refuses_a_taken_internal_port_even_when_nothing_listens_on_it(instance):
    # Daphne's second listener (agent and app containers, on the Docker bridge). A socket
    # bound there without listening (as an outgoing connection's ephemeral port is) answers
    # no probe, yet Daphne cannot bind: it used to stop a moment after its public port
    # answered, so `up` said "MGX is up" over a dead web (a CI run's `healthz` was refused).
    host = procs.docker_bridge_address(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    port = int(instance["MGX_INTERNAL_PORT"])
    with socket.socket() as squatter:
        squatter.bind((host, port))
        result = mgx(instance, "up")

    assert result.returncode != 0, result.stdout
    assert "Daphne" in result.stderr and f"{port}" in result.stderr
    assert "MGX_INTERNAL_PORT" in result.stderr  # says which setting moves it
    assert not any(_pids(instance).values())


def test_a_failure_midway_stops_what_this_up_had_started(instance):
    # Something that is not MongoDB sits on the store's port: Redis starts first, the store
    # fails, and Redis must be stopped again.
    mongo_port = int(instance["MGX_MONGO_URL"].rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", mongo_port))
        squatter.listen()
        result = mgx(instance, "up")

    assert result.returncode != 0
    assert "MongoDB store" in result.stderr and str(mongo_port) in result.stderr
    assert "started" in result.stdout and "Redis" in result.stdout  # it had got that far
    assert not any(_pids(instance).values())
    assert not procs.redis_answers(instance["MGX_REDIS_URL"])


def test_up_names_the_docker_engine_when_none_answers(instance, tmp_path):
    instance["DOCKER_HOST"] = f"unix://{tmp_path}/no-docker.sock"
    result = mgx(instance, "up")

    assert result.returncode != 0
    assert "Docker engine" in result.stderr and "no-docker.sock" in result.stderr
    assert not any(_pids(instance).values())


def test_missing_debian_packages_are_named_with_the_one_command_to_run(tmp_path):
    """As a user who cannot install, `./mgx` prints the exact sudo line and stops; as root with
    everything there it says so and goes on."""
    import sys

    from mgx_site.cli import commands as cli

    probe = ("import sys; from mgx_site.cli import commands as cli; "
             "sys.exit(cli._ensure_packages(('git', 'mgx-no-such-package-' + 'x' * 8)) or 0)")
    if os.geteuid() == 0:
        as_user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        done = subprocess.run([*as_user, sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=str(cli.BASE_DIR), env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
        assert done.returncode == 1, done.stderr
        assert "missing mgx-no-such-package-xxxxxxxx; run: sudo apt-get update && sudo apt-get install -y" in done.stdout
        assert " git" not in done.stdout.split("missing", 1)[1].split(";")[0]  # git is installed: not asked for
    assert cli._ensure_packages(("git",)) is None


def test_up_with_postgres_makes_and_starts_its_own_cluster_and_runs_mgx_on_it(instance):
    import shutil
    import tempfile

    pg_dir = tempfile.mkdtemp(prefix="mgx-cli-pg-")
    os.chmod(pg_dir, 0o755)  # Debian's postgres user runs it when this is root's run
    instance.update(MGX_POSTGRES="1", MGX_POSTGRES_PORT=str(_free_port()), MGX_POSTGRES_DIR=pg_dir)
    try:
        first = mgx(instance, "up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "made a cluster in" in first.stdout and "created MGX's database" in first.stdout
        url = f"http://127.0.0.1:{instance['MGX_PORT']}/"
        assert requests.get(url + "healthz", timeout=15).status_code == 200
        # The admin `up` made is in PostgreSQL (and there is no SQLite file at all).
        layout = procs.Layout(Path(instance["MGX_VAR_DIR"]))
        pg_bin = procs.postgres_bin()
        rows = subprocess.run(
            [str(pg_bin / "psql"), "-h", "127.0.0.1", "-p", instance["MGX_POSTGRES_PORT"], "-U", "mgx", "-d", "mgx", "-tAc",
             "select username from auth_user where is_superuser"],
            env=dict(os.environ, PGPASSWORD=procs.postgres_password(layout)), capture_output=True, text=True)
        assert rows.stdout.split() == ["admin"], rows.stderr
        assert not (Path(instance["MGX_VAR_DIR"]) / "mgx.sqlite3").exists()

        second = mgx(instance, "up")
        assert second.returncode == 0 and "password:" not in second.stdout
        assert second.stdout.count("already running") == len(_pids(instance))
        status = mgx(instance, "status")
        assert any(line.startswith("PostgreSQL") and " up " in line for line in status.stdout.splitlines()), status.stdout

        assert mgx(instance, "down").returncode == 0
        assert not any(_pids(instance).values())
    finally:
        mgx(instance, "down")
        shutil.rmtree(pg_dir, ignore_errors=True)
