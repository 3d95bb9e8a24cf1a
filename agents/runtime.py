"""One agent container per run, started and watched by a Celery task.

The container (configured in `agents.containers`) mounts MGX's code read-only and only this
app's workspace, runs as the app user on the agents' bridge network, and reaches MGX only
through Daphne's internal listener (`/internal/agent/...`), authorised by a token made for this
run alone, kept only as a hash and dropped when the run ends. It gets no Docker socket and no
route to Redis or MongoDB: its events, usage, status, checkpoints and commits go through that
API, which writes them here on the host.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time

import docker
from django.conf import settings

from deployments.docker_client import DockerUnavailable, client
from workspaces.owner import own_tree
from workspaces.services import workspace_commit, workspace_for

from .containers import AgentConfigError, agent_container_config
from .documents import AgentRun
from .services import event_append

log = logging.getLogger(__name__)

AUTHOR = "MGX agent team"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def run_execute(*, run_id: str) -> str:
    """Start the run's container, wait for it to finish, enforce the timeout, clean up.
    Returns the run's final status."""
    from sessions_app.models import App

    run = AgentRun.objects(run_id=run_id).first()
    if run is None or run.status != "queued":
        return run.status if run else "missing"
    app = App.objects.filter(slug=run.session).first()
    if app is None:
        AgentRun.objects(run_id=run_id).update_one(set__status="failed")
        return "failed"
    token = secrets.token_urlsafe(32)
    AgentRun.objects(run_id=run_id).update_one(set__status="running", set__token_hash=token_hash(token))
    try:
        # The container runs as the app user: it must be able to write what MGX wrote.
        own_tree(workspace_for(app).root)
        container = client().containers.run(**agent_container_config(app=app, run_id=run_id, token=token))
    except (DockerUnavailable, docker.errors.DockerException, AgentConfigError, OSError) as exc:
        AgentRun.objects(run_id=run_id).update_one(set__token_hash="")
        return _fail(run_id, app.slug, f"The agent could not start: {exc}")
    AgentRun.objects(run_id=run_id).update_one(set__container_id=container.id)

    deadline = time.monotonic() + settings.MGX_AGENT_TIMEOUT
    timed_out = False
    while True:
        try:
            container.reload()
        except docker.errors.NotFound:
            break  # killed and removed by a cancel
        if container.status in ("exited", "dead"):
            break
        if time.monotonic() > deadline:
            timed_out = True
            container_kill(container.id)
            break
        time.sleep(0.5)

    run = AgentRun.objects(run_id=run_id).first()
    logs = _logs(container)
    _remove(container)
    AgentRun.objects(run_id=run_id).update_one(set__token_hash="")  # the token dies with the run
    _commit_leftovers(app, run.status if not timed_out else "timeout")
    if timed_out:
        return _fail(run_id, app.slug, f"The team ran past the {settings.MGX_AGENT_TIMEOUT // 60}-minute limit and was stopped.")
    if run.status == "running":  # the runner ended without saying how
        tail = "\n".join(logs.splitlines()[-15:]).replace(token, "***")
        return _fail(run_id, app.slug, "The agent stopped unexpectedly." + (f"\n\n```\n{tail}\n```" if tail else ""))
    return run.status


def _commit_leftovers(app, status: str) -> None:
    """Every run ends with a commit. The runner makes it through the API while its run is live;
    a run cancelled, killed or timed out cannot any more, so what it wrote is committed here."""
    if status in ("done", "waiting"):
        return
    try:
        workspace_commit(app=app, message=f"Agent: work before the run stopped ({status})", author=AUTHOR)
    except Exception:  # the run's outcome matters more than a failed commit
        log.exception("commit after run of %s", app.slug)


def _fail(run_id: str, slug: str, message: str) -> str:
    AgentRun.objects(run_id=run_id).update_one(set__status="failed", set__finished_at=dt.datetime.now(dt.timezone.utc))
    event_append(session=slug, type="ERROR", run=run_id, payload={"message": message})
    return "failed"


def _logs(container) -> str:
    try:
        return container.logs(tail=200).decode(errors="replace")
    except docker.errors.DockerException:
        return ""


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.DockerException:
        pass


def container_kill(container_id: str) -> None:
    try:
        client().containers.get(container_id).kill()
    except (docker.errors.DockerException, DockerUnavailable):
        pass


def runs_reconcile() -> list[str]:
    """After the worker restarts: a run that was queued or running then cannot finish any more
    (its watcher is gone). Its container is removed and the chat says what happened, so the
    person can send the message again instead of waiting forever."""
    ended = []
    engine = client()
    for run in AgentRun.objects(status__in=("queued", "running")):
        if run.container_id:
            try:
                container = engine.containers.get(run.container_id)
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        _fail(run.run_id, run.session, "MGX restarted while the team was working on this; send your message again.")
        ended.append(run.run_id)
    # Containers whose watcher died before it could remove them.
    from deployments.docker_client import instance_id

    for container in engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=agent"]}):
        container.remove(force=True)
    return ended
