"""One agent container per run, started and watched by a Celery task.

The container runs `manage.py run_agent` from the agent image with MGX's code mounted
read-only and only this app's workspace mounted (so the team cannot see another app's code).
It gets no Docker socket: commands run in the app's dev container through MGX's internal API
(`/internal/agent/...`), authorised by a token made for this run alone and kept only as a hash.
It shares the host's network namespace so it reaches MGX, MongoDB and Redis on loopback
(where they listen) without opening them to the Docker bridge.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time

import docker
from django.conf import settings

from deployments.docker_client import DockerUnavailable, client, container_name, labels
from workspaces.services import workspace_for

from .documents import AgentRun
from .services import event_append

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _internal_url() -> str:
    host = settings.MGX_HOST if settings.MGX_HOST not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.MGX_PORT}/internal/agent"


def _environment(app, token: str) -> dict:
    env = {
        "DJANGO_SETTINGS_MODULE": "mgx_site.settings.base",
        "MGX_VAR_DIR": "/tmp/mgx-agent",
        "DATABASE_URL": "sqlite:////tmp/mgx-agent/unused.sqlite3",  # the runner needs no SQL database
        "MGX_SECRET_KEY": secrets.token_urlsafe(32),
        "MGX_OTEL_ENABLED": "false",
        "MGX_MONGO_URL": settings.MGX_MONGO_URL,
        "MGX_REDIS_URL": settings.MGX_REDIS_URL,
        "MGX_WORKSPACE_ROOT": str(workspace_for(app).root.parent),
        "MGX_WORKSPACE_MAX_FILE_BYTES": str(settings.MGX_WORKSPACE_MAX_FILE_BYTES),
        "MGX_PUBLIC_URL": settings.MGX_PUBLIC_URL,
        "MGX_APP_NAME": app.name,
        "MGX_APP_FRAMEWORK": app.framework,
        "MGX_AGENT_API_URL": _internal_url(),
        "MGX_AGENT_TOKEN": token,
        "MGX_LLM_BASE_URL": settings.MGX_LLM_BASE_URL,
        "MGX_LLM_API_KEY": settings.MGX_LLM_API_KEY,
        "MGX_LLM_MODEL": settings.MGX_LLM_MODEL,
        "MGX_LLM_PRICE_PROMPT": str(settings.MGX_LLM_PRICE_PROMPT),
        "MGX_LLM_PRICE_COMPLETION": str(settings.MGX_LLM_PRICE_COMPLETION),
        "MGX_AGENT_MAX_STEPS": str(settings.MGX_AGENT_MAX_STEPS),
        "MGX_AGENT_RUN_TOKEN_BUDGET": str(settings.MGX_AGENT_RUN_TOKEN_BUDGET),
        "MGX_AGENT_APP_TOKEN_BUDGET": str(settings.MGX_AGENT_APP_TOKEN_BUDGET),
        "MGX_AGENT_LOOP_LIMIT": str(settings.MGX_AGENT_LOOP_LIMIT),
    }
    for role, model in settings.MGX_LLM_ROLE_MODELS.items():
        if model:
            env[f"MGX_LLM_MODEL_{role.upper()}"] = model
    return env


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
    ws_root = str(workspace_for(app).root)
    try:
        engine = client()
        container = engine.containers.run(
            image=settings.MGX_AGENT_IMAGE,
            name=container_name(slug=app.slug, role="agent") + "-" + run_id[:8],
            command=["python", "manage.py", "run_agent", "--session", app.slug, "--run", run_id],
            working_dir="/srv/mgx",
            environment=_environment(app, token),
            volumes={str(settings.BASE_DIR): {"bind": "/srv/mgx", "mode": "ro"}, ws_root: {"bind": ws_root, "mode": "rw"}},
            network_mode="host",
            labels={**labels(slug=app.slug, role="agent"), "mgx.run": run_id},
            mem_limit="2g", nano_cpus=1_000_000_000, pids_limit=512, security_opt=["no-new-privileges"],
            detach=True,
        )
    except (DockerUnavailable, docker.errors.DockerException) as exc:
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
    if timed_out:
        return _fail(run_id, app.slug, f"The team ran past the {settings.MGX_AGENT_TIMEOUT // 60}-minute limit and was stopped.")
    if run.status == "running":  # the runner ended without saying how
        tail = "\n".join(logs.splitlines()[-15:]).replace(token, "***")
        return _fail(run_id, app.slug, "The agent stopped unexpectedly." + (f"\n\n```\n{tail}\n```" if tail else ""))
    return run.status


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
