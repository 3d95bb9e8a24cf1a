"""Dev containers: start, watch the boot, stop, restart, exec, reap idle ones, reconcile after a
restart.

Only this module (and docker_client) talks to Docker. Every state change is saved on the
DevEnvironment row and announced to the app's group, so the Dev tab updates live.

Errors: callers see `DevError` (and its `DevUnavailable`) only. The adapter's `DockerUnavailable`
is turned into `DevUnavailable` here, so nothing outside `deployments` imports docker_client to
catch it; both are `core.errors.MgxError`s, which the page and API translators answer.

`tasks.py` imports these services inside its task bodies, and `dev_start` imports its task
inside the function (HackSoftware's shape): the two modules never import each other at load.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import wraps

import docker
import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.selectors import ssh_keys_for
from containers.docker_client import (
    DockerUnavailable,
    cache_volume_name,
    client,
    container_name,
    instance_id,
    labels,
    published_port,
)
from containers.frameworks import framework
from containers.images import dev_image_current
from containers.sandbox import app_network_ensure, networks_of_deleted_apps, sandbox
from core.announce import announce, model_update
from core.errors import Conflict, LimitReached
from core.owner import app_uid, container_user, own_tree
from core.workers import taken_in_present_life, workers_alive
from sessions_app.models import App
from workspaces.quota import human
from workspaces.selectors import workspace_usage
from workspaces.services import workspace_for

from .environment import app_environment
from .gateway import GatewayError, gateway, route_for, route_id
from .models import DevEnvironment
from .sshd import SSH_DIR, SSH_PORT, SSH_START

log = logging.getLogger(__name__)
Phase = DevEnvironment.Phase
LOG_LINES = 40
BOOT_TIMEOUT = 900  # seconds for a cold install + first compile
# The runtime image's `app` user owns /home/app. A fresh named volume mounted there is filled
# from the image with that owner, so the app's HOME and caches are writable by it without any
# container ever running as root to fix ownership.
IMAGE_APP_UID = 1000
IMAGE_HOME = "/home/app"


class DevError(Conflict):
    """A dev-container operation the user asked for cannot be done now; the message says why."""


class DevUnavailable(DevError):
    """The Docker engine does not answer. A `DevError`, so callers catch one class, but of the
    kind "unavailable" (503 on the API), as the adapter's DockerUnavailable was."""

    kind = "unavailable"


# Running dev servers per user (MGX_MAX_DEV_SERVERS_PER_USER): each holds up to MGX_DEV_MEMORY and
# MGX_DEV_CPUS of the machine, so one person's many apps cannot take it all. Admins are not exempt
# (a limit is raised for everyone, in the settings). Two starts at the very same moment may both
# pass the count.
RUNNING = (Phase.CREATING, Phase.INSTALLING, Phase.STARTING, Phase.READY)  # a paused warm server is not running


class DevLimitReached(DevError, LimitReached):
    """A DevError, so the Dev tab shows it in place like any refused start."""


def dev_server_room(*, app) -> None:
    """Raises DevLimitReached when the app's owner already runs the most dev servers one person
    may (this app's own server is not counted: starting it again is no new server)."""
    limit = settings.MGX_MAX_DEV_SERVERS_PER_USER
    if not limit:
        return
    running = list(DevEnvironment.objects.filter(app__owner_id=app.owner_id, phase__in=RUNNING)
                   .exclude(app_id=app.pk).values_list("app__slug", flat=True)[:limit + 1])
    if len(running) >= limit:
        raise DevLimitReached(
            f"{app.owner.get_username()} runs {len(running)} dev server{'s' if len(running) != 1 else ''} already "
            f"({', '.join(running[:5])}), the most one person may run at once (MGX_MAX_DEV_SERVERS_PER_USER = "
            f"{limit}). Stop one to start this one; nothing was started.")


def _engine_errors(service):
    """The Docker adapter's refusal, said in this layer's words (the message stays the same)."""

    @wraps(service)
    def wrapper(*args, **kwargs):
        try:
            return service(*args, **kwargs)
        except DockerUnavailable as exc:
            raise DevUnavailable(str(exc)) from exc

    return wrapper


def _env(app) -> DevEnvironment:
    return DevEnvironment.objects.get_or_create(app=app)[0]


# A dev server that (re)starts or stops has no health verdict until deployments.dev_health's next check.
NO_VERDICT = {"health": "", "error": "", "page_error": "", "error_at": None, "logs_read_to": None}


def _save(dev: DevEnvironment, **changes) -> DevEnvironment:
    phase = changes.get("phase", dev.phase)
    if phase in DevEnvironment.STEPS:
        changes["step"] = phase  # the furthest step reached, for the progress shown
    return model_update(dev, announced=_announced, **changes)


def _announced(dev: DevEnvironment) -> DevEnvironment:
    announce(slug=dev.app.slug, kind="dev.status",
             data={"phase": dev.phase, "message": dev.message, "health": dev.health, "error": dev.error})
    return dev


@_engine_errors
def dev_start(*, app) -> DevEnvironment:
    """Queue a start. The Celery task creates the container and follows the boot."""
    from .tasks import dev_boot_task

    dev = _env(app)
    if dev.phase in (Phase.CREATING, Phase.INSTALLING, Phase.STARTING):
        if dev.phase == Phase.CREATING and not dev.worker:
            # Queued and not taken yet: its task may be lost (a worker killed after taking it
            # from the broker). Queue it again; the boot's claim lets only one task boot it.
            transaction.on_commit(lambda: dev_boot_task.delay(app.pk))
        return dev  # already on its way

    dev_server_room(app=app)  # MGX_MAX_DEV_SERVERS_PER_USER: refused before anything changes
    client()  # a clear error now, rather than a failed task later
    # No worker yet: the one that takes the task records itself (a name left from an earlier
    # boot would make a starting worker's reconcile think a live worker follows this one).
    _save(dev, phase=Phase.CREATING, message="Queued", last_log="", ready_at=None, worker="", **NO_VERDICT)
    transaction.on_commit(lambda: dev_boot_task.delay(app.pk))
    return dev


def _cache_volume(app) -> str:
    """The app's own HOME volume (npm and pip caches inside), made on first use. A volume of
    the same name left by an earlier app with this slug (deleted behind MGX's back) is never
    reused: whatever that app planted in its caches would be installed by this one."""
    name = cache_volume_name(slug=app.slug)
    identity = {**labels(slug=app.slug, role="cache"), "mgx.app-created": app.created_at.isoformat()}
    engine = client()
    try:
        volume = engine.volumes.get(name)
    except docker.errors.NotFound:
        volume = None
    if volume is not None:
        if (volume.attrs.get("Labels") or {}).get("mgx.app-created") == identity["mgx.app-created"]:
            return volume.name
        volume.remove(force=True)  # in use by a leftover container: the boot fails saying so
    return engine.volumes.create(name, labels=identity).name


def _remove_cache_volume(app) -> None:
    try:
        client().volumes.get(cache_volume_name(slug=app.slug)).remove(force=True)
    except docker.errors.NotFound:
        pass


FINGERPRINT_LABEL = "mgx.made-from"


def _fingerprint(env: dict, image: str, script: str, confinement: dict) -> str:
    """What a dev container was made from (its environment, image, script and sandbox): a
    paused one is resumed only when a new one would be made the same (no rotated secret, no new
    image, no other network or limits)."""
    made_from = json.dumps([sorted(env.items()), image, script, confinement], sort_keys=True)
    return hashlib.sha256(made_from.encode()).hexdigest()[:32]


def _dev_image(docker_client=None) -> str:
    """The dev image (the runtime plus the templates' dependencies: a new app's first start
    copies them instead of downloading) when it is current, else the runtime image."""
    try:
        return settings.MGX_DEV_IMAGE if dev_image_current(docker_client or client()) else settings.MGX_RUNTIME_IMAGE
    except docker.errors.DockerException:
        return settings.MGX_RUNTIME_IMAGE


def _container_config(app, *, image: str | None = None) -> dict:
    runtime = framework(app.framework)
    image = image or _dev_image()
    volumes = {str(workspace_for(app).root): {"bind": "/workspace", "mode": "rw"}}
    if app_uid() == IMAGE_APP_UID:
        home = IMAGE_HOME
        volumes[_cache_volume(app)] = {"bind": IMAGE_HOME, "mode": "rw"}
    else:
        # MGX runs unprivileged as another uid (containers run as MGX's user then): the image's
        # home is not that user's, so HOME and the caches live on /tmp and start empty each boot.
        home = "/tmp/home"
    env = {
        **app_environment(app=app, stage="dev"),
        "NODE_ENV": "development",
        "NEXT_TELEMETRY_DISABLED": "1",
        "HOME": home,
        "npm_config_cache": f"{home}/.npm",
        "PIP_CACHE_DIR": f"{home}/.cache/pip",
        "CHOKIDAR_USEPOLLING": "0",
    }
    # The app's code is untrusted: the one sandbox recipe (never root, no capabilities, a
    # read-only image, limits, the app's own network). Writable: /workspace, HOME (its caches)
    # and /tmp (exec allowed: npm and pip unpack and run build tools there).
    confinement = sandbox(kind="dev", network=app_network_ensure(slug=app.slug), tmp_exec=True)
    # The CA bundle (MGX_EXTRA_CA_BUNDLE) is baked into the runtime image with PIP_CERT,
    # NODE_EXTRA_CA_CERTS and friends pointing at it (containers.images).
    return dict(
        image=image,
        name=container_name(slug=app.slug, role="dev"),
        # sshd first (in the background, never failing the boot), then the dev servers.
        command=["sh", "-c", SSH_START + runtime.dev_script],
        working_dir="/workspace",
        environment=env,
        volumes=volumes,
        # The preview on loopback only (the gateway forwards it); SSH on MGX_SSH_BIND, since
        # users connect to it directly. Docker picks free host ports.
        ports={f"{runtime.dev_port}/tcp": ("127.0.0.1", None), f"{SSH_PORT}/tcp": (settings.MGX_SSH_BIND, None)},
        labels={**labels(slug=app.slug, role="dev"),
                FINGERPRINT_LABEL: _fingerprint(env, image, SSH_START + runtime.dev_script, confinement)},
        **confinement,
        detach=True,
    )


def _remove_container(name_or_id: str) -> None:
    """Gone when this returns, also when another removal of it (a reconcile's) is under way:
    Docker refuses a second one (409 "already in progress"), and that one is waited for."""
    try:
        container = client().containers.get(name_or_id)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
        try:
            container.wait(condition="removed", timeout=60)
        except docker.errors.NotFound:
            pass


def dev_boot(*, app, worker: str = "", queued: bool = False) -> DevEnvironment:
    """Create and start the container, then follow its log and probe the port until the dev
    server answers through its base path. Runs in the Celery worker `worker` (its node name,
    recorded so that a boot whose worker died is ended by dev_reconcile). A `queued` boot (the
    task dev_start queued) runs only if that start still stands: the row is taken for this
    worker in one conditional write, so a start stopped meanwhile boots nothing, and never twice."""
    dev = _env(app)
    if queued:
        if not DevEnvironment.objects.filter(pk=dev.pk, phase=Phase.CREATING, worker="").update(
                worker=worker, started_at=timezone.now()):
            return dev
        dev.refresh_from_db()
    runtime = framework(app.framework)
    try:
        docker_client = client()
        try:
            docker_client.images.get(settings.MGX_RUNTIME_IMAGE)
        except docker.errors.ImageNotFound:
            return _save(dev, phase=Phase.FAILED, message=f"The runtime image {settings.MGX_RUNTIME_IMAGE} is missing: run ./mgx images.")
        config = _container_config(app, image=_dev_image(docker_client))
        resumed = _resume_warm(app, dev, config)
        if resumed is not None:
            return resumed
        _remove_container(config["name"])
        _save(dev, phase=Phase.CREATING, message="Creating the container", started_at=timezone.now(), worker=worker)
        _hand_workspace_to_app_user(app)
        container = docker_client.containers.run(**config)
        container.reload()
        port = published_port(container, runtime.dev_port)
        _save(dev, container_id=container.id, host_port=port, ssh_port=published_port(container, SSH_PORT))
        _write_authorized_keys(app, container)
        gateway().set_route(route_for(slug=app.slug, stage="dev", upstream=f"127.0.0.1:{port}"))
    except (DockerUnavailable, GatewayError, docker.errors.DockerException, OSError) as exc:
        return _save(dev, phase=Phase.FAILED, message=str(exc)[:500])
    return _follow_boot(dev, container, port)


def _resume_warm(app, dev: DevEnvironment, config: dict) -> DevEnvironment | None:
    """The dev server kept warm by the last stop (a paused container made from the same
    environment, whose installed dependencies still match the manifests): resumed, routed and
    ready again with nothing to compile. None when there is none to resume; the caller then
    removes whatever stands under the name and starts a fresh one."""
    try:
        container = client().containers.get(config["name"])
    except docker.errors.NotFound:
        return None
    if container.status != "paused" or container.labels.get(FINGERPRINT_LABEL) != config["labels"][FINGERPRINT_LABEL]:
        return None
    started = timezone.now()
    container.unpause()
    if container.exec_run(["sh", "-c", framework(app.framework).dev_current], user=container_user()).exit_code != 0:
        return None  # the manifests changed while it slept: a fresh start installs them
    # sshd was ended by the pause; it comes back with the owner's keys as they are now.
    container.exec_run(["/usr/sbin/sshd", "-f", f"{SSH_DIR}/sshd_config", "-E", f"{SSH_DIR}/sshd.log"],
                       user=container_user())
    _write_authorized_keys(app, container)
    port = published_port(container, framework(app.framework).dev_port)
    gateway().set_route(route_for(slug=app.slug, stage="dev", upstream=f"127.0.0.1:{port}"))
    return _save(dev, phase=Phase.READY, message="Ready (resumed)", container_id=container.id, host_port=port,
                 ssh_port=_ssh_port_or_none(container), started_at=started, ready_at=timezone.now(), **NO_VERDICT)


def _full_note(app) -> str:
    """Why a dev server died, when its workspace's disk is full (its quota, workspaces.quota)."""
    used = workspace_usage(app=app)
    if not used.full:
        return ""
    return (f" Its workspace is full: {human(used.used)} of its {human(used.size)} quota are used. Delete files "
            "(node_modules, .next, build output) to make room, then start it again.")


def _hand_workspace_to_app_user(app) -> None:
    """Apps made while containers ran as root have root-owned workspaces, which the
    unprivileged container could not write: hand them over once (new workspaces already are)."""
    root = workspace_for(app).root
    if root.stat().st_uid != app_uid():
        own_tree(root)


def _follow_boot(dev: DevEnvironment, container, port: int) -> DevEnvironment:
    lines: deque[str] = deque(maxlen=LOG_LINES)
    events: queue.Queue = queue.Queue()

    def pump():
        try:
            for raw in container.logs(stream=True, follow=True):
                for line in raw.decode(errors="replace").splitlines():
                    events.put(line)
        except Exception:
            pass
        events.put(None)  # the container's output ended: it exited

    threading.Thread(target=pump, daemon=True).start()
    url = f"http://127.0.0.1:{port}/apps/{dev.app.slug}/dev/"
    deadline = time.monotonic() + BOOT_TIMEOUT
    last_saved = 0.0
    ended = False
    while time.monotonic() < deadline:
        changed = False
        # Read for half a second at most, then probe: a dev server that prints without pause
        # (a warning each request, an exporter retrying) must not keep the probe from running.
        round_ends = time.monotonic() + 0.5
        try:
            while True:
                line = events.get(timeout=max(0.01, round_ends - time.monotonic()))
                if line is None:
                    ended = True
                    break
                if line.startswith("MGX_PHASE "):
                    phase = line.split(" ", 1)[1].strip()
                    if phase in (Phase.INSTALLING, Phase.STARTING):
                        _save(dev, phase=phase, message=Phase(phase).label, last_log="\n".join(lines))
                    continue
                lines.append(line)
                changed = True
                if time.monotonic() >= round_ends:
                    break
        except queue.Empty:
            pass
        if ended:
            container.reload()
            code = container.attrs["State"].get("ExitCode")
            return _save(dev, phase=Phase.FAILED, message=f"The dev server exited with code {code}.{_full_note(dev.app)}",
                         last_log="\n".join(lines))
        if changed and time.monotonic() - last_saved > 2:
            _save(dev, last_log="\n".join(lines))
            last_saved = time.monotonic()
        if dev.phase == Phase.STARTING:
            try:
                # The first request may make the dev server compile: allow it time, but not so
                # much that one stuck connection holds the boot (the compile goes on; the next
                # probe finds it done).
                probe = requests.get(url, timeout=30, allow_redirects=False)
                if probe.status_code < 500:
                    return _save(dev, phase=Phase.READY, message="Ready", ready_at=timezone.now(), last_log="\n".join(lines))
            except requests.RequestException:
                pass
    return _save(dev, phase=Phase.FAILED, message=f"The dev server did not answer within {BOOT_TIMEOUT // 60} minutes.", last_log="\n".join(lines))


def dev_stop(*, app, reason: str = "Stopped", keep_warm: bool = False) -> DevEnvironment:
    """Stop the dev server: its route goes at once. With `keep_warm` (and MGX_DEV_KEEP_WARM) a
    ready container is paused, not removed, so the next start resumes it; the reaper removes it
    after MGX_DEV_KEEP_WARM seconds. The row keeps the paused container's id: that is how a
    stopped app with a warm container is told from one without."""
    dev = _env(app)
    name = container_name(slug=app.slug, role="dev")
    try:
        gateway().delete_route(route_id(slug=app.slug, stage="dev"))
        if keep_warm and settings.MGX_DEV_KEEP_WARM > 0 and dev.phase == Phase.READY and _pause(name):
            return _save(dev, phase=Phase.STOPPED, message=reason, ssh_port=None, **NO_VERDICT)
        _remove_container(name)
    except (DockerUnavailable, GatewayError) as exc:
        raise DevError(str(exc)) from exc
    return _save(dev, phase=Phase.STOPPED, message=reason, container_id="", host_port=None, ssh_port=None,
                 **NO_VERDICT)


def _pause(name: str) -> bool:
    try:
        container = client().containers.get(name)
        if container.status != "running":
            return False
        # SSH sessions end now, as with a removed container, rather than hang while it is paused.
        container.exec_run(["pkill", "-x", "sshd"], user=container_user())
        container.pause()
        return True
    except docker.errors.APIError:  # gone meanwhile, or the engine refused: remove instead
        return False


def dev_restart(*, app) -> DevEnvironment:
    """Stop the dev server, then queue a fresh start (the Dev tab's Restart): one action, so a
    view never strings services together. A failed stop starts nothing."""
    dev_stop(app=app)
    return dev_start(app=app)


def dev_purge(*, app) -> None:
    """The app is being deleted: its container, its route and its caches go. Raises DevError
    (and leaves the caches) when Docker cannot do it, so the caller can keep the app."""
    dev_stop(app=app, reason="App deleted")
    try:
        _remove_cache_volume(app)
    except (DockerUnavailable, docker.errors.APIError) as exc:
        raise DevError(f"The app's package caches could not be removed: {exc}") from exc


@_engine_errors
def dev_logs(*, app, lines: int = 200) -> str:
    try:
        container = client().containers.get(container_name(slug=app.slug, role="dev"))
    except docker.errors.NotFound:
        return _env(app).last_log
    return container.logs(tail=lines).decode(errors="replace")


@dataclass
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration: float

    def as_dict(self) -> dict:
        return self.__dict__.copy()


MAX_OUTPUT = 1_000_000


@_engine_errors
def dev_exec(*, app, command: str | list[str], cwd: str = "", env: dict | None = None, timeout: float = 60) -> ExecResult:
    """Run a command in the app's dev container (never on the host) and return its output.
    The timeout is enforced inside the container with coreutils `timeout`, so a hung command is
    killed even if the client goes away."""
    try:
        container = client().containers.get(container_name(slug=app.slug, role="dev"))
    except docker.errors.NotFound:
        raise DevError("The dev container is not running; start it first.")
    if container.status != "running":
        raise DevError("The dev container is not running; start it first.")
    argv = command if isinstance(command, list) else ["sh", "-c", command]
    ws = workspace_for(app)
    workdir = "/workspace/" + ws.clean(cwd) if cwd else "/workspace"
    wrapped = ["timeout", "--kill-after=2", str(max(1, int(timeout))), *argv]
    started = time.monotonic()
    # As the container's own unprivileged user, never as root (exec_run's user would win).
    result = container.exec_run(wrapped, workdir=workdir, environment=env or {}, demux=True, user=container_user())
    duration = time.monotonic() - started
    out, err = result.output if result.output else (b"", b"")
    timed_out = result.exit_code in (124, 137) and duration >= timeout - 0.5
    return ExecResult(
        exit_code=result.exit_code,
        stdout=(out or b"")[:MAX_OUTPUT].decode(errors="replace"),
        stderr=(err or b"")[:MAX_OUTPUT].decode(errors="replace") + (f"\n[timed out after {timeout:g} s]" if timed_out else ""),
        timed_out=timed_out,
        duration=round(duration, 3),
    )


@_engine_errors
def dev_reap_idle(*, now: float | None = None, keep_warm: bool = False) -> list[str]:
    """Stop dev containers nobody has requested for MGX_DEV_IDLE_TIMEOUT seconds (`keep_warm`:
    paused, as the Dev tab's Stop does). The gateway writes the last request time to Redis; a
    container never visited counts from its start. Warm containers older than
    MGX_DEV_KEEP_WARM are removed on every pass."""
    import redis

    from .gateway.builtin import SEEN_KEY

    now = now or time.time()
    r = redis.Redis.from_url(settings.MGX_REDIS_URL)
    stopped = []
    for dev in DevEnvironment.objects.filter(phase__in=DevEnvironment.STEPS).select_related("app"):
        seen = r.get(SEEN_KEY.format(slug=dev.app.slug))
        last = float(seen) if seen else (dev.started_at.timestamp() if dev.started_at else now)
        if now - last >= settings.MGX_DEV_IDLE_TIMEOUT:
            dev_stop(app=dev.app, reason=f"Stopped after {settings.MGX_DEV_IDLE_TIMEOUT // 60} idle minutes",
                     keep_warm=keep_warm)
            stopped.append(dev.app.slug)
    # Warm (paused) containers kept longer than MGX_DEV_KEEP_WARM give their memory back.
    warm = (DevEnvironment.objects.filter(phase=Phase.STOPPED).exclude(container_id="")
            .exclude(app__slug__in=stopped).select_related("app"))
    for dev in warm:
        if now - dev.updated_at.timestamp() >= settings.MGX_DEV_KEEP_WARM:
            _remove_container(container_name(slug=dev.app.slug, role="dev"))
            DevEnvironment.objects.filter(pk=dev.pk).update(container_id="", host_port=None)
    return stopped


ORPHANED_BOOT = "MGX restarted while the dev server was starting; start it again."


def _save_if_unchanged(dev: DevEnvironment, **changes) -> bool:
    """`_save`, but only if the row still holds what `dev` was read with (phase, worker and
    container): a boot taken up meanwhile, a user's start or stop, is never written over by a
    decision made on an older view of it. True when written."""
    step = changes["phase"] if changes.get("phase") in DevEnvironment.STEPS else dev.step
    written = DevEnvironment.objects.filter(
        pk=dev.pk, phase=dev.phase, worker=dev.worker, container_id=dev.container_id,
    ).update(**changes, step=step, updated_at=timezone.now())
    if written:
        for key, value in {**changes, "step": step}.items():
            setattr(dev, key, value)
        _announced(dev)
    return bool(written)


@_engine_errors
def dev_reconcile(*, worker: str = "", since: float | None = None) -> dict:
    """After MGX (or worker `worker`, a Celery node name) restarts: make the rows match what
    Docker really runs. Containers of this instance whose app is gone are removed, and so are
    their caches; rows whose container is gone show stopped; running containers get their
    gateway route back. A boot still under way whose follower is gone (this worker's previous
    life, a worker whose heartbeat expired) would stay "starting" forever: its container is
    removed and the row shows failed, saying to start again. Boots followed by another live
    worker are left to it, even before their container exists, and so are starts still queued
    (no worker has taken them yet: the broker holds their task, and whichever worker takes it
    boots them). Other workers keep working while this runs, so each row is written only if it
    is still as it was read, and a container or route goes only once its row says so. `since`
    (epoch seconds) is when the starting worker's present life began: a boot it took after that
    is its own, followed now, not a previous life's (it may take work before this runs)."""
    found = {"removed": [], "stopped": [], "running": [], "caches_removed": [], "boots_failed": []}
    following = workers_alive() - {worker}
    containers = client().containers.list(all=True, filters={"label": f"mgx.instance={instance_id()}"})
    by_slug = {}
    for container in containers:
        slug = container.labels.get("mgx.app", "")
        if container.labels.get("mgx.role") != "dev":
            continue
        app = App.objects.filter(slug=slug).first()
        if app is None:
            container.remove(force=True)
            found["removed"].append(slug)
            continue
        by_slug[slug] = (app, container)
    for dev in DevEnvironment.objects.select_related("app"):
        app_container = by_slug.pop(dev.app.slug, None)
        running = app_container is not None and app_container[1].status == "running"
        booting = dev.phase in (Phase.CREATING, Phase.INSTALLING, Phase.STARTING)
        if booting and (not dev.worker or dev.worker in following):
            continue  # queued, or followed by a live worker that sets phase, container and route
        if booting and taken_in_present_life(owner=dev.worker, worker=worker, since=since,
                                             taken_at=dev.started_at.timestamp() if dev.started_at else None):
            continue  # taken by the starting worker in its present life
        slug = dev.app.slug
        if running and booting:
            if _save_if_unchanged(dev, phase=Phase.FAILED, message=ORPHANED_BOOT, container_id="", host_port=None,
                                  ssh_port=None):
                _remove_container(app_container[1].id)
                gateway().delete_route(route_id(slug=slug, stage="dev"))
                found["boots_failed"].append(slug)
        elif running:
            container = app_container[1]
            port = published_port(container, framework(dev.app.framework).dev_port)
            phase = dev.phase if dev.phase in DevEnvironment.STEPS else Phase.READY
            if _save_if_unchanged(dev, phase=phase, message=dev.message, container_id=container.id, host_port=port,
                                  ssh_port=_ssh_port_or_none(container)):
                gateway().set_route(route_for(slug=slug, stage="dev", upstream=f"127.0.0.1:{port}"))
                found["running"].append(slug)
        elif dev.phase != Phase.STOPPED:
            if _save_if_unchanged(dev, phase=Phase.STOPPED, message="Found stopped when MGX started", container_id="",
                                  host_port=None, ssh_port=None):
                if app_container is not None:
                    _remove_container(app_container[1].id)
                gateway().delete_route(route_id(slug=slug, stage="dev"))
                found["stopped"].append(slug)
    found["networks_removed"] = networks_of_deleted_apps(
        app_exists=lambda slug: App.objects.filter(slug=slug).exists())
    caches = client().volumes.list(filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=cache"]})
    for volume in caches:
        slug = (volume.attrs.get("Labels") or {}).get("mgx.app", "")
        if not App.objects.filter(slug=slug).exists():
            try:
                volume.remove(force=True)
                found["caches_removed"].append(slug)
            except docker.errors.APIError:
                log.warning("cache volume %s of deleted app %s is still in use", volume.name, slug)
    return found


# ---------------------------------------------------------------- SSH into the dev container


def _ssh_port_or_none(container) -> int | None:
    try:
        return published_port(container, SSH_PORT)
    except (KeyError, IndexError, TypeError):
        return None  # a container made before SSH existed


def _authorized_keys(app) -> str:
    """The owner's keys, one line each. Only the validated `<type> <base64>` part and a comment
    made safe: a title is free text, and a newline in it would add a line of its own."""
    lines = []
    for key in ssh_keys_for(user=app.owner):
        comment = "".join(ch for ch in key.title if ch.isprintable() and ch not in "\r\n")[:100]
        lines.append(f"{key.public_key} {comment}".strip())
    return "".join(line + "\n" for line in lines)


def _write_authorized_keys(app, container) -> None:
    """Replace authorized_keys inside the running container (docker exec, as the container's
    user): the root filesystem is read-only and /tmp is a tmpfs that the archive API does not
    reach, and nothing is restarted. Written to a new file and renamed, so sshd never reads a
    half-written one."""
    script = (f"umask 077; mkdir -p {SSH_DIR} && printf '%s' \"$MGX_KEYS\" > {SSH_DIR}/authorized_keys.new"
              f" && mv -f {SSH_DIR}/authorized_keys.new {SSH_DIR}/authorized_keys")
    result = container.exec_run(["sh", "-c", script], environment={"MGX_KEYS": _authorized_keys(app)},
                                user=container_user())
    if result.exit_code != 0:
        log.warning("authorized_keys for %s not written: %s", app.slug, (result.output or b"")[:300])


def dev_ssh_keys_sync(*, app) -> bool:
    """Write the owner's current SSH keys into the app's running dev container. False when no
    dev container runs (the next start writes them). Never raises for Docker trouble: a key
    saved on the profile must not fail because an engine is down."""
    try:
        container = client().containers.get(container_name(slug=app.slug, role="dev"))
        if container.status != "running":
            return False
        _write_authorized_keys(app, container)
        return True
    except (DockerUnavailable, docker.errors.DockerException) as exc:
        if not isinstance(exc, docker.errors.NotFound):
            log.warning("SSH keys of %s not synced: %s", app.slug, exc)
        return False


def ssh_keys_changed(*, user) -> list[str]:
    """The user's SSH keys changed: every running dev container of their apps gets the new set
    at once, without a restart. Returns the slugs that were updated."""
    done = []
    for dev in DevEnvironment.objects.filter(app__owner=user, phase__in=DevEnvironment.STEPS).select_related("app__owner"):
        if dev_ssh_keys_sync(app=dev.app):
            done.append(dev.app.slug)
    return done
