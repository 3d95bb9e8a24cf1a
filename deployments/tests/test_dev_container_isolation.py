"""Attacks on what an app's dev container may do, on the real Docker engine.

An app's code is untrusted: whatever runs in its dev container (the dev server, `npm install`
scripts, commands sent to `/api/apps/<slug>/exec`) must not act as root, must not change the
image it runs on, and must not reach another app's package caches.
"""
import json
import os
from pathlib import Path

import docker
import pytest

from containers.docker_client import container_name, instance_id
from deployments import services
from deployments.models import DevEnvironment
from studio.services import app_delete
from workspaces.services import workspace_for

from .test_dev_containers import wait_for_phase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]
Phase = DevEnvironment.Phase
APP_UID = 1000  # the runtime image's `app` user; MGX runs as root here
RUNNING = {Phase.INSTALLING, Phase.STARTING, Phase.READY, Phase.FAILED}


@pytest.fixture
def owner(user_factory):
    return user_factory(username="lockowner")


def _exec(app, command: str):
    return services.dev_exec(app=app, command=command, timeout=60)


def _mounts(app) -> list[dict]:
    return docker.from_env().containers.get(container_name(slug=app.slug, role="dev")).attrs["Mounts"]


def _volumes_of_app(slug: str) -> list:
    return docker.from_env().volumes.list(filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={slug}"]})


def _hand_to_root(root: Path) -> None:
    """An app made before containers ran unprivileged: everything in it belongs to root."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.chown(name, 0, 0, follow_symlinks=False)


def test_dev_containers_run_unprivileged_on_a_read_only_root_with_caches_of_their_own(live, runtime_image, app_factory, owner):
    legacy = app_factory(owner=owner, name="Locked Legacy", framework="nextjs")
    _hand_to_root(workspace_for(legacy).root)
    fresh = app_factory(owner=owner, name="Locked Fresh", framework="nextjs")
    # A new workspace belongs to the user its container runs as.
    fresh_root = workspace_for(fresh).root
    assert {p.stat().st_uid for p in [fresh_root, *fresh_root.rglob("*")] if not p.is_symlink()} == {APP_UID}

    services.dev_start(app=legacy)
    services.dev_start(app=fresh)
    dev = wait_for_phase(legacy, {Phase.READY, Phase.FAILED}, timeout=900)
    assert dev.phase == Phase.READY, dev.last_log
    assert wait_for_phase(fresh, RUNNING, timeout=300).phase != Phase.FAILED

    # Not root, no capabilities, through the exec API as through the service.
    http = live.login("lockowner", owner.raw_password)
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Content-Type": "application/json"}
    who = http.post(f"{live.url}/api/apps/{legacy.slug}/exec", headers=csrf, data=json.dumps({"command": "id -u; id -g"})).json()
    assert who["stdout"].split() == [str(APP_UID), str(APP_UID)], who
    caps = _exec(legacy, "grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status").stdout
    assert [line.split()[1] for line in caps.splitlines()] == ["0000000000000000"] * 3, caps

    # The image cannot be changed: the root filesystem is read-only.
    for target in ("/etc/x", "/usr/local/x", "/usr/bin/npm"):
        wrote = _exec(legacy, f"echo poisoned > {target}")
        assert wrote.exit_code != 0 and ("Read-only file system" in wrote.stderr or "Permission denied" in wrote.stderr), (target, wrote)
    assert "Read-only file system" in _exec(legacy, "touch /etc/x").stderr

    # What the app needs stays writable: the workspace, /tmp (executables included), HOME.
    works = _exec(legacy, "set -e; echo made > /workspace/from-container.txt; cp /bin/true /tmp/t && /tmp/t; "
                          "touch \"$HOME/.probe\"; echo \"$HOME\"")
    assert works.exit_code == 0, works
    home = works.stdout.strip()
    # The workspace from before this change was handed to the app user: the container can
    # rewrite what root wrote.
    assert _exec(legacy, "printf ' ' >> package.json && mkdir -p scratch/new && touch scratch/new/x").exit_code == 0

    # Caches are per app: what one app puts in its npm cache is not there for the other.
    poison = _exec(legacy, "set -e; mkdir -p \"$npm_config_cache\" \"$PIP_CACHE_DIR\"; echo poisoned > \"$npm_config_cache/_mgx_poison\"; "
                           "echo poisoned > \"$PIP_CACHE_DIR/_mgx_poison\"; echo \"$npm_config_cache $PIP_CACHE_DIR\"")
    assert poison.exit_code == 0, poison
    npm_cache, pip_cache = poison.stdout.split()
    seen = _exec(fresh, f"ls -a {npm_cache} {pip_cache} 2>/dev/null; cat {npm_cache}/_mgx_poison {pip_cache}/_mgx_poison 2>/dev/null")
    assert "poisoned" not in seen.stdout and "_mgx_poison" not in seen.stdout, seen

    # And the engine agrees: nothing writable is mounted into both containers.
    engine = docker.from_env()
    for app in (legacy, fresh):
        attrs = engine.containers.get(container_name(slug=app.slug, role="dev")).attrs
        host = attrs["HostConfig"]
        assert attrs["Config"]["User"] == f"{APP_UID}:{APP_UID}"
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"] and not host["Privileged"]
        assert "no-new-privileges" in host["SecurityOpt"]
        assert "/tmp" in host["Tmpfs"] and "size=" in host["Tmpfs"]["/tmp"] and "noexec" not in host["Tmpfs"]["/tmp"]
        assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
    writable = [{m.get("Name") or m["Source"] for m in _mounts(app) if m["RW"]} for app in (legacy, fresh)]
    assert writable[0] and writable[1] and not writable[0] & writable[1], writable
    assert any(m["Destination"] == home for m in _mounts(legacy) if m["Type"] == "volume")

    # A file the container wrote is edited through MGX's file API afterwards.
    files = f"{live.url}/api/workspaces/{legacy.slug}/files?path=from-container.txt"
    current = http.get(files, timeout=10).json()
    assert current["content"] == "made\n"
    edited = http.put(files, headers=csrf, data=json.dumps({"content": "edited by MGX\n", "version": current["version"]}), timeout=30)
    assert edited.status_code == 200, edited.text
    assert _exec(legacy, "cat from-container.txt").stdout == "edited by MGX\n"
    services.dev_stop(app=fresh)
    services.dev_stop(app=legacy)


def test_files_written_through_mgx_stay_writable_by_the_container(live, runtime_image, app_factory, owner):
    app = app_factory(owner=owner, name="Locked Shared", framework="nextjs")
    services.dev_start(app=app)
    assert wait_for_phase(app, RUNNING, timeout=300).phase != Phase.FAILED
    http = live.login("lockowner", owner.raw_password)
    csrf = {"X-CSRFToken": http.cookies["csrftoken"], "Content-Type": "application/json"}

    base = f"{live.url}/api/workspaces/{app.slug}/files"
    assert http.put(f"{base}?path=notes/new.txt", headers=csrf, data=json.dumps({"content": "new\n", "version": ""}), timeout=30).status_code == 200
    current = http.get(f"{base}?path=package.json", timeout=10).json()
    assert http.put(f"{base}?path=package.json", headers=csrf, timeout=30,
                    data=json.dumps({"content": current["content"] + "\n", "version": current["version"]})).status_code == 200

    wrote = _exec(app, "set -e; echo more >> notes/new.txt; printf ' ' >> package.json; touch notes/other.txt")
    assert wrote.exit_code == 0, wrote
    services.dev_stop(app=app)


def test_an_apps_caches_go_when_the_app_goes(live, runtime_image, app_factory, owner):
    app = app_factory(owner=owner, name="Locked Gone", framework="nextjs")
    services.dev_start(app=app)
    assert wait_for_phase(app, RUNNING, timeout=300).phase != Phase.FAILED
    volumes = [m["Name"] for m in _mounts(app) if m["Type"] == "volume"]
    assert volumes and [v.name for v in _volumes_of_app(app.slug)] == volumes
    slug = app.slug

    app_delete(app=app)

    engine = docker.from_env()
    for name in volumes:
        with pytest.raises(docker.errors.NotFound):
            engine.volumes.get(name)

    # A cache left behind while MGX was down (an app deleted meanwhile) goes at reconcile;
    # the caches of apps that still exist stay.
    kept = app_factory(owner=owner, name="Locked Kept", framework="nextjs")
    left = engine.volumes.create(f"mgx-cache-{instance_id()}-{slug}",
                                 labels={"mgx.instance": instance_id(), "mgx.app": slug, "mgx.role": "cache"})
    other = engine.volumes.create(f"mgx-cache-{instance_id()}-{kept.slug}",
                                  labels={"mgx.instance": instance_id(), "mgx.app": kept.slug, "mgx.role": "cache"})
    try:
        services.dev_reconcile()
        with pytest.raises(docker.errors.NotFound):
            engine.volumes.get(left.name)
        assert engine.volumes.get(other.name)
    finally:
        for volume in (left, other):
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass
    assert not _volumes_of_app(slug)


def test_a_new_app_never_inherits_the_caches_left_by_an_old_app_of_the_same_name(live, runtime_image, app_factory, owner):
    # An app deleted behind MGX's back (the admin, a crash mid-delete) left its cache volume,
    # with something planted in it, and a new app now has the same slug.
    app = app_factory(owner=owner, name="Locked Reused", framework="nextjs")
    engine = docker.from_env()
    name = f"mgx-cache-{instance_id()}-{app.slug}"
    engine.volumes.create(name, labels={"mgx.instance": instance_id(), "mgx.app": app.slug, "mgx.role": "cache"})
    engine.containers.run(runtime_image, ["sh", "-c", "mkdir -p /home/app/.npm && echo poisoned > /home/app/.npm/_planted"],
                          volumes={name: {"bind": "/home/app", "mode": "rw"}}, user="1000:1000", remove=True)

    services.dev_start(app=app)
    assert wait_for_phase(app, RUNNING, timeout=300).phase != Phase.FAILED

    planted = _exec(app, "cat \"$npm_config_cache/_planted\" 2>/dev/null; echo done")
    assert planted.stdout == "done\n", planted
    services.dev_stop(app=app)
