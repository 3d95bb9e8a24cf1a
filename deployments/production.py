"""Production releases: start a build's container(s), wait until they answer their health
endpoint, switch the app's prod route to them, then stop the release that served before.

- Next.js: one container (port 3000), health `/apps/<slug>/prod/healthz`.
- FastAPI + Vite: backend (8000) and frontend (8080), the backend reachable as `backend` (the
  frontend proxies `api/` there); health is `/apps/<slug>/prod/api/healthz` through the
  frontend, so both must be up.

Every release runs on a network of its own (containers.sandbox.network_ensure): no other
app's containers are on it, and while two releases overlap during a switch, `backend` resolves
to this release's backend only. Containers run under the one sandbox recipe, as dev ones do
(unprivileged uid 1000, no capabilities, no new privileges, read-only root with a small /tmp,
memory/CPU/pids limits, a rotating log, loopback-only port, no Docker socket) and restart
unless stopped. They get the template contract's environment
(deployments.environment) plus the app's own variables (deployments.envvars).

A release that does not become healthy within MGX_PROD_HEALTH_TIMEOUT (or exits) is removed and
marked failed with its last log lines (secrets masked); the route is never touched, so the live
release keeps serving. The switch is one route write; the old release is stopped after a short
drain, and only once the database says the new one is live, so a worker killed at any point
leaves either the old release serving (reconcile puts its route back) or the new one.

`release_request` and `release_rollback` queue; the Celery task runs `release_deploy`.
"""
from __future__ import annotations

import logging
import time

import docker
import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from containers.docker_client import (
    DockerUnavailable,
    client,
    container_name,
    instance_id,
    labels,
    published_port,
)
from containers.frameworks import framework
from containers.sandbox import network_ensure, network_remove, sandbox
from core.announce import announce, model_update
from core.errors import Conflict, NotFound

from .environment import app_environment
from .envvars import mask, secret_values, user_environment
from .gateway import GatewayError, gateway, route_for, route_id
from .models import Build, Release

log = logging.getLogger(__name__)
Status = Release.Status
PROD_UID = "1000:1000"  # the runtime image's `app` user, who owns what the Dockerfiles copy
LOG_LINES = 40


class ProdError(Conflict):
    """A production action cannot be done now; the message says why."""


class ProdUnavailable(ProdError):
    kind = "unavailable"


def _announce(release: Release) -> None:
    announce(slug=release.app.slug, kind="release.status",
             data={"release": release.pk, "number": release.number, "status": release.status, "message": release.message})


def _save(release: Release, **changes) -> Release:
    return model_update(release, announced=_announce, **changes)


def health_url(*, app, port: int) -> str:
    return framework(app.framework).health_url(slug=app.slug, stage="prod", port=port)


def _name(release: Release, role: str) -> str:
    return container_name(slug=release.app.slug, role=f"prod{release.number}-{role}")


def _network_name(release: Release) -> str:
    return f"mgx-{instance_id()}-net-{release.app.slug}-r{release.number}"


def _labels(release: Release, role: str) -> dict:
    return {**labels(slug=release.app.slug, role="prod"), "mgx.release": str(release.pk), "mgx.part": role}


# ------------------------------------------------------------------------------ requests

def release_request(*, app, user=None, build_id: int | None = None, rollback_of: Release | None = None,
                    by: str = "") -> Release:
    """Queue a deploy of `build_id` (default: the newest successful build). `by`: who asked, when
    no user did (a Publish's build deploying itself)."""
    from .tasks import release_deploy_task

    if build_id is not None:
        build = Build.objects.filter(app=app, pk=build_id).first()
        if build is None:
            raise NotFound("No such build of this app.")
        if build.status != Build.Status.SUCCEEDED:
            raise ProdError(f"Build #{build.number} did not succeed ({build.get_status_display().lower()}); deploy a successful build.")
    else:
        build = Build.objects.filter(app=app, status=Build.Status.SUCCEEDED).order_by("-number").first()
        if build is None:
            raise ProdError("There is no successful build of this app yet: build it first.")
    starting = Release.objects.filter(app=app, status=Status.STARTING).first()
    if starting:
        raise ProdError(f"Release #{starting.number} is still starting; wait for it to go live or fail.")
    try:
        client()
    except DockerUnavailable as exc:
        raise ProdUnavailable(str(exc)) from exc
    try:
        with transaction.atomic():
            number = (Release.objects.filter(app=app).aggregate(n=Max("number"))["n"] or 0) + 1
            release = Release.objects.create(
                app=app, build=build, number=number, status=Status.STARTING, rollback_of=rollback_of,
                created_by=user.get_username() if user else (by or "MGX"),
                message=f"Rolling back to build #{build.number}" if rollback_of else f"Starting build #{build.number}")
    except IntegrityError as exc:
        raise ProdError("Another release of this app is starting; wait for it to go live or fail.") from exc
    _announce(release)
    transaction.on_commit(lambda: release_deploy_task.delay(release.pk))
    return release


def release_rollback(*, app, release_id: int, user=None) -> Release:
    """A new release of an earlier release's build: its images again, no rebuild."""
    earlier = Release.objects.filter(app=app, pk=release_id).select_related("build").first()
    if earlier is None:
        raise NotFound("No such release of this app.")
    if earlier.status == Status.LIVE:
        raise ProdError(f"Release #{earlier.number} is the one serving now.")
    if not _images_present(earlier.build):
        raise ProdError(f"The images of build #{earlier.build.number} are no longer in the Docker engine; build that version again.")
    return release_request(app=app, user=user, build_id=earlier.build_id, rollback_of=earlier)


def _images_present(build: Build) -> bool:
    try:
        engine = client()
        for info in (build.images or {}).values():
            engine.images.get(info["id"])
    except docker.errors.ImageNotFound:
        return False
    except DockerUnavailable as exc:
        raise ProdUnavailable(str(exc)) from exc
    return bool(build.images)


# ------------------------------------------------------------------------------ the deploy

class _Unhealthy(Exception):
    pass


def _container_config(release: Release, *, role: str, image: str, env: dict, port: int | None, network: str,
                      alias: str | None = None) -> dict:
    config = dict(
        image=image,
        name=_name(release, role),
        environment={**env, "HOME": "/tmp"},
        labels=_labels(release, role),
        # Untrusted code serving strangers: the one sandbox recipe (never root, no capabilities,
        # an image it cannot change, limits), on its release's own network.
        **sandbox(kind="prod", network=network, user=PROD_UID),
        restart_policy={"Name": "unless-stopped"},
        detach=True,
    )
    if port:
        config["ports"] = {f"{port}/tcp": ("127.0.0.1", None)}  # loopback only, a free port
    if alias:
        config["networking_config"] = {network: client().api.create_endpoint_config(aliases=[alias])}
    return config


def release_deploy(*, release: Release) -> Release:
    """Start, wait for health, switch, stop the old one (the Celery task's body)."""
    release.refresh_from_db()
    if release.status != Status.STARTING:
        return release  # done already, or failed by reconcile after a worker restart
    app = release.app
    build = release.build
    secrets = secret_values(app=app)
    try:
        engine = client()
        for info in (build.images or {}).values():
            try:
                engine.images.get(info["id"])
            except docker.errors.ImageNotFound:
                raise _Unhealthy(f"The image {info['tag']} is no longer in the Docker engine; build again.")
        env = {**user_environment(app=app), **app_environment(app=app, stage="prod")}
        _save(release, message="Starting the container" + ("s" if len(build.images) > 1 else ""))
        public_role, public_port = framework(app.framework).public
        containers = {}
        network = _network_name(release)
        _remove_network(network)
        network_ensure(name=network, labels=_labels(release, "network"))
        _save(release, network=network)
        # The framework's images in order (FastAPI + Vite: the backend first, reachable by its
        # role's name, then the frontend); only the public one gets a port.
        public = None
        for role, _folder in framework(app.framework).images:
            exposed = role == public_role
            container = engine.containers.run(**_container_config(
                release, role=role, image=build.images[role]["id"], env=env, port=public_port if exposed else None,
                network=network, alias=None if exposed else role))
            containers[role] = container.id
            _save(release, containers=dict(containers))
            if exposed:
                public = container
        _save(release, containers=dict(containers))  # before anything can fail: _fail shows their logs
        port = serving_port(public, public_port, role=public_role)
        _save(release, host_port=port, message="Waiting for the health check")
        _wait_healthy(release, port)
    except (_Unhealthy, docker.errors.DockerException, DockerUnavailable, OSError) as exc:
        message = str(exc) if isinstance(exc, _Unhealthy) else f"The release could not start: {str(exc)[:400]}"
        return _fail(release, message, secrets)
    return _switch(release, secrets)


def serving_port(container, port: int, *, role: str) -> int:
    """The host port of the release's public container. Docker publishes none while a container
    that died waits to restart: that release is unhealthy, not an error that escapes the deploy
    and leaves it "starting"."""
    container.reload()
    try:
        return published_port(container, port)
    except (KeyError, IndexError, TypeError):
        state = container.attrs["State"]
        raise _Unhealthy(f"The {role} container exited with code {state.get('ExitCode')} before it became healthy.") from None


def _wait_healthy(release: Release, port: int) -> None:
    url = health_url(app=release.app, port=port)
    deadline = time.monotonic() + settings.MGX_PROD_HEALTH_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        for role, cid in release.containers.items():
            try:
                container = client().containers.get(cid)
            except docker.errors.NotFound:
                raise _Unhealthy(f"The {role} container disappeared before it became healthy.")
            state = container.attrs["State"]
            if state.get("Status") in ("exited", "dead") or state.get("Restarting") or state.get("RestartCount", 0):
                raise _Unhealthy(f"The {role} container exited with code {state.get('ExitCode')} before it became healthy.")
        try:
            answer = requests.get(url, timeout=5, allow_redirects=False)
            last = f"HTTP {answer.status_code}"
            if answer.status_code == 200:
                _save(release, health=f"healthy: GET {framework(release.app.framework).health_path} answered 200")
                return
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)  # polling the container's port; nothing to wait on instead
    raise _Unhealthy(f"The release did not answer {framework(release.app.framework).health_path} with 200 within "
                     f"{settings.MGX_PROD_HEALTH_TIMEOUT} s (last: {last}).")


def _switch(release: Release, secrets: list[str]) -> Release:
    app = release.app
    try:
        gateway().set_route(route_for(slug=app.slug, stage="prod", upstream=f"127.0.0.1:{release.host_port}"))
    except GatewayError as exc:
        return _fail(release, f"The gateway could not be switched: {exc}", secrets)
    with transaction.atomic():
        old = list(Release.objects.select_for_update().filter(app=app, status=Status.LIVE).exclude(pk=release.pk))
        for previous in old:
            previous.status, previous.message, previous.stopped_at = Status.STOPPED, f"Replaced by release #{release.number}", timezone.now()
            previous.save()
        release.status, release.message, release.live_at = Status.LIVE, "Live", timezone.now()
        release.save()
    for previous in old:
        _announce(previous)
    _announce(release)
    if old:
        # Requests the old release already accepted finish before it goes.
        time.sleep(settings.MGX_PROD_DRAIN_SECONDS)
        for previous in old:
            _remove_release_containers(previous)
    return release


def _last_logs(release: Release, secrets: list[str]) -> str:
    parts = []
    for role, cid in (release.containers or {}).items():
        try:
            text = client().containers.get(cid).logs(tail=LOG_LINES).decode(errors="replace").strip()
        except (docker.errors.DockerException, DockerUnavailable):
            continue
        if text:
            parts.append(f"--- {role}\n{text}" if len(release.containers) > 1 else text)
    return mask("\n".join(parts), secrets)


def _fail(release: Release, message: str, secrets: list[str]) -> Release:
    last_log = _last_logs(release, secrets)
    try:
        _remove_release_containers(release)
    except (DockerUnavailable, docker.errors.DockerException) as exc:
        log.warning("release %s: removing its containers failed: %s", release.pk, exc)
    live = Release.objects.filter(app=release.app, status=Status.LIVE).first()
    note = f" Release #{live.number} keeps serving." if live else ""
    return _save(release, status=Status.FAILED, message=mask(message, secrets)[:900] + note, last_log=last_log,
                 stopped_at=timezone.now(), health=release.health or "unhealthy")


def _remove_network(name: str) -> None:
    network_remove(name=name)


def _remove_release_containers(release: Release) -> None:
    engine = client()
    for container in engine.containers.list(all=True, filters={"label": f"mgx.release={release.pk}"}):
        if container.labels.get("mgx.instance") == instance_id():
            container.remove(force=True)
    if release.network:
        _remove_network(release.network)


# ------------------------------------------------------------------------------ stop, read

def prod_stop(*, app) -> Release | None:
    """Take the app off the air: the prod route goes, the live release's containers go."""
    live = Release.objects.filter(app=app, status=Status.LIVE).first()
    starting = {str(pk) for pk in Release.objects.filter(app=app, status=Status.STARTING).values_list("pk", flat=True)}
    try:
        gateway().delete_route(route_id(slug=app.slug, stage="prod"))
        if live:
            _remove_release_containers(live)
        # A release replaced moments ago may still be draining: it goes too.
        engine = client()
        for container in engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}", "mgx.role=prod"]}):
            if container.labels.get("mgx.release") not in starting:
                container.remove(force=True)
    except (DockerUnavailable, GatewayError, docker.errors.APIError) as exc:
        raise ProdUnavailable(str(exc)) from exc
    if live:
        _save(live, status=Status.STOPPED, message="Stopped", stopped_at=timezone.now())
    return live


def prod_purge(*, app) -> None:
    """The app is being deleted: every release's containers and networks, and the route."""
    try:
        gateway().delete_route(route_id(slug=app.slug, stage="prod"))
        engine = client()
        for container in engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}", "mgx.role=prod"]}):
            container.remove(force=True)
        for network in engine.networks.list(filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}",
                                                               "mgx.role=prod"]}):
            network_remove(name=network.name)
    except (DockerUnavailable, GatewayError, docker.errors.APIError) as exc:
        raise ProdError(f"The app's production containers could not be removed: {exc}") from exc


# ------------------------------------------------------------------------------ reconcile

def prod_reconcile() -> dict:
    """At worker start: make releases, routes and containers agree with what Docker runs.
    - a release still `starting` (the worker died during its deploy) is failed and its
      containers removed;
    - the live release's route points at its container's current port (a restarted engine may
      have given it another), or, when its container is gone, it is marked stopped and the route removed;
    - prod containers and networks of this instance that belong to no live release go."""
    found = {"failed": [], "routed": [], "stopped": [], "removed": []}
    engine = client()
    for release in Release.objects.filter(status=Status.STARTING).select_related("app"):
        _fail(release, "MGX's worker stopped during this deploy; the previous release keeps serving.", secret_values(app=release.app))
        found["failed"].append(release.pk)
    live_ids = set()
    for release in Release.objects.filter(status=Status.LIVE).select_related("app"):
        role, port = framework(release.app.framework).public
        try:
            container = engine.containers.get(release.containers.get(role, ""))
            if container.status != "running":
                container.start()
                container.reload()
            host_port = published_port(container, port)
        except (docker.errors.DockerException, KeyError, IndexError, TypeError):
            gateway().delete_route(route_id(slug=release.app.slug, stage="prod"))
            _save(release, status=Status.STOPPED, message="Found stopped when MGX started", stopped_at=timezone.now())
            _remove_release_containers(release)
            found["stopped"].append(release.pk)
            continue
        gateway().set_route(route_for(slug=release.app.slug, stage="prod", upstream=f"127.0.0.1:{host_port}"))
        if host_port != release.host_port:
            _save(release, host_port=host_port)
        live_ids.add(str(release.pk))
        found["routed"].append(release.pk)
    for container in engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=prod"]}):
        if container.labels.get("mgx.release") not in live_ids:
            container.remove(force=True)
            found["removed"].append(container.name)
    for network in engine.networks.list(filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=prod"]}):
        if (network.attrs.get("Labels") or {}).get("mgx.release") not in live_ids:
            try:
                network_remove(name=network.name)
            except docker.errors.APIError:
                pass
    return found
