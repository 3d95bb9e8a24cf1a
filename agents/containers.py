"""How an agent container is started: what it mounts, where it is on the network, who it runs as.

- Mounts: MGX's code directories one by one, read-only (`AGENT_CODE`; never `var/`, `.venv`,
  `.git` or the base directory as a whole), and this app's workspace at /workspaces/<slug>.
- Network: its app's own network (containers.sandbox), where no other app's container is.
  Its only way to MGX is `host.docker.internal` (the host's docker0 address), where Daphne's
  internal listener answers the internal agent API and nothing else. Redis, MongoDB and
  Daphne's public port listen on loopback, which a bridged container cannot reach.
- Environment: the run's token and the model's key are the only secrets; Django gets a
  throwaway SECRET_KEY and a var dir on the container's tmpfs.
- Process: the one sandbox recipe (containers.sandbox): the app user (uid 1000, as the dev
  container, so files it writes belong to the same user), no capabilities, no-new-privileges,
  read-only root filesystem with a tmpfs /tmp (HOME), MGX_AGENT_* limits.
"""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
from django.conf import settings

from containers.docker_client import (
    DockerUnavailable,
    client,
    container_name,
    instance_id,
    labels,
)
from containers.sandbox import CONTAINER_HOST, app_network_ensure, sandbox

log = logging.getLogger(__name__)

# What `manage.py run_agent` imports: Django loads every installed app's models.
AGENT_CODE = ("manage.py", "mgx_site", "core", "containers", "accounts", "sessions_app", "workspaces", "deployments",
              "agents", "databases", "observability", "studio")  # every app in INSTALLED_APPS: Django imports them all at start
CODE_ROOT = "/srv/mgx"
WORKSPACES = "/workspaces"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class AgentConfigError(Exception):
    """The container cannot be started safely as configured; the message says why."""


def container_llm_url(url: str) -> str:
    """The model endpoint as the container reaches it: a loopback host means the MGX host, which
    a bridged container calls host.docker.internal (the model server must then listen on the
    docker0 address or 0.0.0.0)."""
    if not url:
        return url
    parts = urlsplit(url)
    if (parts.hostname or "") not in LOOPBACK_HOSTS:
        return url
    netloc = CONTAINER_HOST + (f":{parts.port}" if parts.port else "")
    if parts.username:
        netloc = parts.username + (f":{parts.password}" if parts.password else "") + "@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_llm_url(url: str) -> str:
    """The model endpoint as MGX's host reaches it (the admin page's Test): `host.docker.internal`,
    which only containers resolve, is the host's Docker bridge address (MGX_INTERNAL_HOST, which
    `./mgx` sets to docker0's)."""
    parts = urlsplit(url or "")
    if (parts.hostname or "") != CONTAINER_HOST or not settings.MGX_INTERNAL_HOST:
        return url
    host = settings.MGX_INTERNAL_HOST
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def agent_api_url() -> str:
    return f"http://{CONTAINER_HOST}:{settings.MGX_INTERNAL_PORT}/internal/agent"


def _code_volumes() -> dict:
    base = Path(settings.BASE_DIR).resolve()
    var_dir = Path(settings.VAR_DIR).resolve()
    volumes = {}
    for name in AGENT_CODE:
        source = (base / name).resolve()
        if not source.is_relative_to(base) or source == base:
            raise AgentConfigError(f"{base / name} is not part of MGX's code directory.")
        if var_dir.is_relative_to(source) or source.is_relative_to(var_dir):
            raise AgentConfigError(f"MGX_VAR_DIR ({var_dir}) lies in {source}, which agent containers mount; "
                                   "move it out of MGX's code.")
        volumes[str(source)] = {"bind": f"{CODE_ROOT}/{name}", "mode": "ro"}
    return volumes


# Settings the runner reads exactly as MGX has them. Add a setting here (not a line of its own
# below) when the runner needs it; secrets never belong here. The model endpoint is not a plain
# setting: it is what is in force when the run starts (the `model` argument below).
COPIED_SETTINGS = (
    "MGX_WORKSPACE_MAX_FILE_BYTES",
    "MGX_LLM_PRICE_PROMPT",
    "MGX_LLM_PRICE_COMPLETION",
    "MGX_AGENT_MAX_STEPS",
    "MGX_AGENT_RUN_TOKEN_BUDGET",
    "MGX_AGENT_APP_TOKEN_BUDGET",
    "MGX_AGENT_LOOP_LIMIT",
)


def _environment(*, app, token: str, model) -> dict:
    """`model`: the endpoint in force (agents.selectors.ModelConfig), given whole to the runner,
    so a container started after an admin changed it uses the new one."""
    env = {
        "DJANGO_SETTINGS_MODULE": "mgx_site.settings.base",
        "HOME": "/tmp",
        "MGX_VAR_DIR": "/tmp/mgx-agent",
        "DATABASE_URL": "sqlite:////tmp/mgx-agent/unused.sqlite3",  # the runner needs no SQL database
        "MGX_SECRET_KEY": secrets.token_urlsafe(32),  # throwaway: the runner signs nothing
        "MGX_OTEL_ENABLED": "false",
        "MGX_WORKSPACE_ROOT": WORKSPACES,
        **{name: str(getattr(settings, name)) for name in COPIED_SETTINGS},
        # The container reaches a loopback model server and MGX itself by other addresses.
        "MGX_LLM_BASE_URL": container_llm_url(model.base_url),
        "MGX_LLM_API_KEY": model.api_key,
        "MGX_LLM_MODEL": model.model,
        "MGX_AGENT_API_URL": agent_api_url(),
        "MGX_APP_NAME": app.name,
        "MGX_APP_FRAMEWORK": app.framework,
        "MGX_AGENT_TOKEN": token,
    }
    for role, name in model.role_models.items():
        if name:
            env[f"MGX_LLM_MODEL_{role.upper()}"] = name
    return env


def agent_container_config(*, app, run_id: str, token: str, workspace_root, model) -> dict:
    """Keyword arguments for `containers.run` of the run's container (detached); the caller
    (agents.services) says where the app's workspace is and which model endpoint is in force
    (agents.selectors.model_config), so this adapter needs no service or selector."""
    ws_root = str(workspace_root)
    return {
        "image": settings.MGX_AGENT_IMAGE,
        "name": container_name(slug=app.slug, role="agent") + "-" + run_id[:8],
        "command": ["python", "manage.py", "run_agent", "--session", app.slug, "--run", run_id],
        "working_dir": CODE_ROOT,
        "environment": _environment(app=app, token=token, model=model),
        "volumes": {**_code_volumes(), ws_root: {"bind": f"{WORKSPACES}/{app.slug}", "mode": "rw"}},
        **sandbox(kind="agent", network=app_network_ensure(slug=app.slug)),
        "labels": {**labels(slug=app.slug, role="agent"), "mgx.run": run_id},
        "detach": True,
    }


# ---------------------------------------------------------------- the engine, for agents.services
# Every Docker call of an agent run, each turning the engine's exceptions into the two this
# module raises (or into "already gone"), so services never see the SDK.


class ContainerError(Exception):
    """The engine refused to start the container; the message says why."""


def agent_container_start(*, app, run_id: str, token: str, workspace_root, model) -> str:
    """Start the run's container; its id. Raises AgentConfigError, ContainerError or
    DockerUnavailable."""
    config = agent_container_config(app=app, run_id=run_id, token=token, workspace_root=workspace_root, model=model)
    try:
        return client().containers.run(**config).id
    except docker.errors.DockerException as exc:
        raise ContainerError(str(exc)) from exc


def agent_container_state(*, container_id: str) -> str | None:
    """The container's status ("running", "exited" …), or None once it is gone (removed by a cancel)."""
    try:
        return client().containers.get(container_id).status
    except docker.errors.NotFound:
        return None


def agent_container_logs(*, container_id: str, tail: int = 200) -> str:
    try:
        return client().containers.get(container_id).logs(tail=tail).decode(errors="replace")
    except (docker.errors.DockerException, DockerUnavailable):
        return ""


def agent_container_kill(*, container_id: str) -> None:
    """Kill it if it still runs; a container already gone, or an engine that does not answer, is no error."""
    try:
        client().containers.get(container_id).kill()
    except (docker.errors.DockerException, DockerUnavailable):
        pass


def agent_container_remove(*, container_id: str) -> None:
    try:
        client().containers.get(container_id).remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.DockerException:
        log.warning("could not remove agent container %s", container_id, exc_info=True)


def agent_containers_all() -> list[tuple[str, str]]:
    """(id, run id) of this MGX instance's agent containers, running or not."""
    found = client().containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=agent"]})
    return [(container.id, container.labels.get("mgx.run", "")) for container in found]
