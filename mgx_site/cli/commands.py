"""`./mgx`: bring MGX up on this machine, take it down, look at it, test it.

The shell wrapper `./mgx` makes the virtualenv and then runs this module. Addresses come from
the same environment variables the settings read (docs/settings.md).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mgx_site import defaults

from . import procs
from .procs import BASE_DIR, BIN_DIR, Layout, ServiceError, StartResult

# Debian packages `./mgx up` needs (the services, nginx with its Lua module for the apps gateway,
# bubblewrap for git, debootstrap for the base image) and those `./mgx test` adds (the browser
# tests' Chromium, Node.js for the templates' tests, Compose for the check of
# infra/docker-compose.yml).
UP_PACKAGES = ("redis-server", "nginx", "libnginx-mod-http-lua", "lua-cjson", "docker.io", "bubblewrap", "debootstrap",
               "git")
TEST_PACKAGES = (*UP_PACKAGES, "chromium", "chromium-driver", "nodejs", "docker-compose")
POSTGRES_PACKAGES = ("postgresql",)  # with MGX_POSTGRES=1 (up) or MGX_TEST_POSTGRES=1 (test)


def _installed(package: str) -> bool:
    if package == "nodejs" and shutil.which("node"):
        return True  # any Node.js with `node --test` will do, however it was installed
    if package == "docker-compose" and (shutil.which("docker-compose") or _compose_plugin()):
        return True  # Docker's own `docker compose` plugin does as well
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and "install ok installed" in done.stdout


def _compose_plugin() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _ensure_packages(packages: tuple[str, ...]) -> int | None:
    """Install the missing Debian packages (as root), printing the exact command; as another user
    print the one line to run and stop. None when everything is there."""
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        _say("…", "System packages", "not a Debian machine: make sure these are installed: " + " ".join(packages))
        return None
    missing = [p for p in packages if not _installed(p)]
    if not missing:
        _say("✓", "System packages", "present")
        return None
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        _say("✗", "System packages", f"missing {' '.join(missing)}; run: sudo apt-get update && sudo {' '.join(command)}")
        return 1
    _say("…", "System packages", f"installing {' '.join(missing)}: apt-get update && {' '.join(command)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["apt-get", "update", "-q"], command):
        if subprocess.run(step, env=env).returncode != 0:  # apt's own progress shows as it goes
            _say("✗", "System packages", f"'{' '.join(step)}' failed (see above); nothing else was started")
            return 1
    _say("✓", "System packages", f"installed {' '.join(missing)}")
    return None


def _config() -> tuple[Layout, dict[str, str]]:
    # The project's .env first, so the addresses used here and the processes started with this
    # environment read the same values as the settings do (variables already set still win).
    defaults.dotenv_load()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")
    var_dir = defaults.var_dir(env)
    env["MGX_VAR_DIR"] = str(var_dir)
    if not env.get("MGX_SECRET_KEY"):
        defaults.secret_key_ensure(var_dir)
    layout = Layout(var_dir)
    if procs.postgres_wanted(env) and not env.get("DATABASE_URL"):
        # MGX's own cluster (./mgx up starts it): every process started from here uses it.
        env["DATABASE_URL"] = procs.postgres_url(layout, env)
    return layout, env


def _say(symbol: str, label: str, text: str) -> None:
    print(f"{symbol} {label:<26} {text}", flush=True)


def _report(result: StartResult) -> None:
    _say("✓", result.proc.label, f"{result.note} — {result.proc.address}")


def _manage(env: dict[str, str], *args: str, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR, env=env, text=True, capture_output=capture,
    )


def cmd_up(args) -> int:
    layout, env = _config()
    layout.ensure()
    stack = procs.stack(layout, env)
    print(f"Bringing MGX up (data in {layout.var_dir})", flush=True)
    postgres = procs.postgres_wanted(env)
    if (failed := _ensure_packages(UP_PACKAGES + (POSTGRES_PACKAGES if postgres else ()))) is not None:
        return failed
    if postgres:
        try:
            made = procs.postgres_prepare(layout, env)
        except ServiceError as exc:
            return _fail(exc)
        _say("✓", "PostgreSQL", made or f"cluster in {procs.postgres_dir(layout, env) / 'data'}")
    if shutil.which("bwrap") is None:
        # Host git reads app-written folders; it runs only inside bubblewrap (workspaces.git).
        return _fail(ServiceError("bubblewrap", "bwrap is not installed (Debian: apt-get install bubblewrap); MGX runs git inside it"))

    # Ports first: a clash found after Redis and MongoDB were started would mean stopping them again.
    for proc in stack:
        if not proc.reuse_foreign and procs.running_pid(layout, proc) is None \
                and (taken := proc.taken_port_error()) is not None:
            return _fail(taken)

    docker_url = env.get("DOCKER_HOST") or defaults.DOCKER_HOST
    _say("…", "Docker engine", f"checking {docker_url}")
    try:
        started_docker = procs.ensure_docker(layout, docker_url)
    except ServiceError as exc:
        return _fail(exc)
    _say("✓", "Docker engine", "answering" if started_docker is None else f"{started_docker.note} — {docker_url}")
    # Now that the engine answers, ask it for its bridge address once: Daphne's internal
    # listener and the apps' store bind there, and MGX's processes connect there.
    env.setdefault("MGX_INTERNAL_HOST", procs.docker_bridge_address(docker_url))
    stack = procs.stack(layout, env)

    try:
        _ensure_images(env, docker_url)
    except (ServiceError, KeyboardInterrupt) as exc:
        procs.stop_started(layout, [started_docker] if started_docker else [])
        if isinstance(exc, KeyboardInterrupt):
            print("\ninterrupted: stopped what this command had started", file=sys.stderr)
            return 130
        return _fail(exc)

    admin_line: list[str] = []

    def migrate():
        if postgres and procs.postgres_db_ensure(layout, env):
            _say("✓", "PostgreSQL", "created MGX's database")
        _say("…", "Database", "applying migrations")
        done = _manage(env, "migrate", "--noinput")
        if done.returncode != 0:
            raise ServiceError("Database", "migrations failed:\n" + (done.stderr or done.stdout)[-2000:])
        applied = done.stdout.count(" OK")
        _say("✓", "Database", f"{applied} migration(s) applied" if applied else "up to date")
        # Each workspace is a file system of its own (its quota); after a reboot they are
        # mounted again before anything may write into the folders underneath.
        mounted = _manage(env, "workspaces_mount")
        if mounted.returncode != 0:
            raise ServiceError("Workspaces", (mounted.stderr or mounted.stdout).strip()[-2000:])
        _say("✓", "Workspaces", mounted.stdout.strip())

    results: list[StartResult] = []
    try:
        # start_all undoes its own starts when one of them fails; the admin step comes after
        # it, so a failure there undoes `results` here. Either way nothing stays half-up.
        results = procs.start_all(layout, stack, env=env, on_result=_report, between={"daphne": migrate})
        created = _manage(env, "ensure_admin")
        if created.returncode != 0:
            raise ServiceError("Admin user", (created.stderr or created.stdout).strip()[-2000:])
        admin_line.append(created.stdout.strip())
    except (ServiceError, KeyboardInterrupt) as exc:
        procs.stop_started(layout, results + ([started_docker] if started_docker else []))
        if isinstance(exc, KeyboardInterrupt):
            print("\ninterrupted: stopped what this command had started", file=sys.stderr)
            return 130
        return _fail(exc)

    daphne = next(p for p in stack if p.name == "daphne")
    public = env.get("MGX_PUBLIC_URL") or daphne.address
    _say("✓", "Admin user", admin_line[0])
    _dev_image_in_background(layout, env, docker_url)
    print(f"\nMGX is up: {public} (apps: {_apps_url(env)})\n  ./mgx status · ./mgx logs · ./mgx down", flush=True)
    return 0


def _apps_url(env: dict[str, str]) -> str:
    from mgx_site.settings import (
        env as settings_env,  # the same environment the settings read
    )

    return settings_env.MGX_APPS_URL


def _ensure_images(env: dict[str, str], docker_url: str) -> None:
    """Build the base and runtime images when one is missing or out of date. When both are
    current this is two image inspects, so `up` stays fast."""
    from containers.images import ImageError, images_status
    from mgx_site.settings import agents as agent_settings
    from mgx_site.settings import (
        docker as docker_settings,  # the same environment the settings read
    )

    base, runtime = docker_settings.MGX_BASE_IMAGE, docker_settings.MGX_RUNTIME_IMAGE
    agent = agent_settings.MGX_AGENT_IMAGE
    try:
        reasons = images_status(docker_url=docker_url, base=base, runtime=runtime,
                                ca_bundle=docker_settings.MGX_EXTRA_CA_BUNDLE, agent=agent)
    except ImageError as exc:
        raise ServiceError("Images", str(exc)) from exc
    if not reasons:
        _say("✓", "Images", f"{base}, {runtime}, {agent} present")
        return
    _say("…", "Images", "; ".join(reasons) + " — building (about 2 minutes the first time)")
    if _manage(env, "images", "--no-dev", capture=False).returncode != 0:
        raise ServiceError("Images", "the image build failed (see above); fix the cause and run ./mgx images")
    _say("✓", "Images", f"{base}, {runtime}, {agent} ready")


# The dev image's build that `up` leaves running in the background: a process of MGX's like the
# services (pid file, log), so a second `up` does not start another and `down` stops it (the
# engine cancels a build whose client has gone).
DEV_IMAGE_BUILD = procs.Proc(name="images", label="Dev image build", address="", marker="manage.py images",
                             argv=[sys.executable, str(BASE_DIR / "manage.py"), "images"], answers=lambda: True)


def _dev_image_in_background(layout, env: dict[str, str], docker_url: str) -> None:
    """Start making the dev image (the templates' dependencies, a minute or two) without making
    `up` wait for it: until it is there, a new app's first dev start downloads its packages."""
    from containers.images import ImageError, dev_image_status
    from mgx_site.settings import docker as docker_settings

    log = layout.logfile(DEV_IMAGE_BUILD.name)
    pid = procs.running_pid(layout, DEV_IMAGE_BUILD)
    if pid is not None:
        _say("…", "Dev image", f"still being built in the background (pid {pid}, log: {log})")
        return
    try:
        reason = dev_image_status(docker_url=docker_url, runtime=docker_settings.MGX_RUNTIME_IMAGE,
                                  dev=docker_settings.MGX_DEV_IMAGE)
    except ImageError as exc:
        reason = str(exc)
    if not reason:
        _say("✓", "Dev image", f"{docker_settings.MGX_DEV_IMAGE} present")
        return
    started = procs.start(layout, DEV_IMAGE_BUILD, env=env)  # as the services: pid file, log, own session
    _say("…", "Dev image", f"{reason}: building in the background (pid {started.pid}, log: {log}); until then a new "
         "app's first dev start downloads its packages")


def cmd_images(args) -> int:
    layout, env = _config()
    docker_url = env.get("DOCKER_HOST") or defaults.DOCKER_HOST
    try:
        procs.ensure_docker(layout, docker_url)
    except ServiceError as exc:
        print(f"✗ {exc}", file=sys.stderr, flush=True)
        return 1
    return _manage(env, "images", *(["--force"] if args.force else []), capture=False).returncode


def _fail(exc: ServiceError) -> int:
    print(f"✗ {exc}", file=sys.stderr, flush=True)
    print("  nothing was left half-started; fix the cause and run ./mgx up again", file=sys.stderr)
    return 1


def cmd_down(args) -> int:
    layout, env = _config()
    if (pid := procs.stop(layout, DEV_IMAGE_BUILD)) is not None:
        _say("■", DEV_IMAGE_BUILD.label, f"stopped (pid {pid}); ./mgx up starts it again")
    for proc in reversed(procs.stack(layout, env)):
        pid = procs.stop(layout, proc)
        _say("■", proc.label, f"stopped (pid {pid})" if pid else "was not running")
    print("The Docker engine and app containers are left running.")
    return 0


def _docker_pid() -> str:
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
        return str(pid) if procs._alive(pid) else "-"
    except (OSError, ValueError):
        return "-"


def cmd_status(args) -> int:
    layout, env = _config()
    docker_url = env.get("DOCKER_HOST") or defaults.DOCKER_HOST
    rows = [("Docker engine", procs.docker_answers(docker_url), _docker_pid(), docker_url)]
    for proc in procs.stack(layout, env):
        pid = procs.running_pid(layout, proc)
        up = proc.answers() and (pid is not None or proc.reuse_foreign)
        rows.append((proc.label, up, str(pid) if pid else ("external" if up else "-"), proc.address))
    print(f"{'service':<26} {'state':<6} {'pid':<9} address")
    for label, up, pid, address in rows:
        print(f"{label:<26} {'up' if up else 'down':<6} {pid:<9} {address}")
    if (pid := procs.running_pid(layout, DEV_IMAGE_BUILD)) is not None:  # not a service: only while it runs
        print(f"{DEV_IMAGE_BUILD.label:<26} {'runs':<6} {pid:<9} log: {layout.logfile(DEV_IMAGE_BUILD.name)}")
    return 0 if all(up for _, up, _, _ in rows) else 1


def cmd_logs(args) -> int:
    layout, env = _config()
    names = [args.service] if args.service else [p.name for p in procs.stack(layout, env)]
    files = [layout.logfile(n) for n in names if layout.logfile(n).exists()]
    if not files:
        print(f"no logs yet under {layout.log_dir}", file=sys.stderr)
        return 1
    argv = ["tail", "-n", str(args.lines)] + (["-F"] if args.follow else []) + [str(f) for f in files]
    return subprocess.call(argv)


def cmd_test(args) -> int:
    layout, env = _config()
    test_postgres = (env.get("MGX_TEST_POSTGRES") or "").lower() in ("1", "true", "yes")
    if (failed := _ensure_packages(TEST_PACKAGES + (POSTGRES_PACKAGES if test_postgres else ()))) is not None:
        return failed
    docker_url = env.get("DOCKER_HOST") or defaults.DOCKER_HOST
    try:
        started = procs.ensure_docker(layout, docker_url)
    except ServiceError as exc:
        return _fail(exc)
    if started is not None:
        _say("✓", "Docker engine", f"{started.note} — {docker_url}")
    # The tests start their own Redis, MongoDB store, Daphne and Celery on free ports
    # (mgx_site.settings.test), so a running `./mgx up` is never touched.
    # MGX_TEST_POSTGRES, MGX_KEEP_TEST_RUN and MGX_TEST_ARTIFACTS are for the tests and stay.
    kept = ("MGX_TEST_POSTGRES", "MGX_KEEP_TEST_RUN", "MGX_TEST_ARTIFACTS")
    for key in [k for k in env if (k.startswith("MGX_") and k not in kept)
                or k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")]:
        env.pop(key)
    os.chdir(BASE_DIR)
    os.execve(str(BIN_DIR / "pytest"), ["pytest", *args.pytest_args], env)


def cmd_reset_admin(args) -> int:
    _, env = _config()
    done = _manage(env, "ensure_admin", "--reset")
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def cmd_manage(args) -> int:
    _, env = _config()
    return _manage(env, *args.manage_args, capture=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./mgx", description="Run MGX on this machine.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every service that is not running (idempotent)").set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop Daphne, the apps gateway, the Celery worker, the MongoDB stores and Redis").set_defaults(func=cmd_down)
    sub.add_parser("status", help="each service: up/down, pid, address").set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="show the services' logs")
    logs.add_argument("service", nargs="?", choices=["redis", "mongo", "apps-mongo", "apps-mongo-guard", "daphne", "gateway",
                                                      "gateway-auth", "celery", "dockerd", "images"])
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(func=cmd_logs)
    test = sub.add_parser("test", help="run the whole test suite on real services it starts itself")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    sub.add_parser("reset-admin", help="set and print a new password for the admin user").set_defaults(func=cmd_reset_admin)
    images = sub.add_parser("images", help="build the base and runtime images when missing or out of date")
    images.add_argument("--force", action="store_true", help="rebuild every image even when it is current")
    images.set_defaults(func=cmd_images)
    manage = sub.add_parser("manage", help="run a Django management command")
    manage.add_argument("manage_args", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["test"], ["manage"]):
        # Everything after the command belongs to pytest / manage.py, dashes included.
        rest = argparse.Namespace(pytest_args=argv[1:], manage_args=argv[1:])
        return (cmd_test if argv[0] == "test" else cmd_manage)(rest)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
