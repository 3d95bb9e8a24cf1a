"""An app's dev container over the JSON API.

Two spellings of the same operations: the REST forms (`GET|POST|DELETE /api/apps/{slug}/dev`,
`POST /api/apps/{slug}/exec`) and the seeds' paths (`dev/start|status|stop`; seed 002's
`/api/sandbox/exec|destroy|destroy_all`, where `session_id` is the app's slug), so their clients
and scripts work unchanged. DevError (DevUnavailable when the Docker engine does not answer) and
WorkspaceError are domain errors, answered by core.api's translator.
"""
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from core.api import ApiError, errors
from sessions_app.selectors import app_for_user

from . import logs, selectors, services

router = Router(tags=["dev containers"])
sandbox_router = Router(tags=["sandbox"])

MAX_TIMEOUT = 600


class DevOut(Schema):
    phase: Literal["stopped", "creating", "installing", "starting", "ready", "failed"]
    message: str
    url: str  # the preview, on the apps origin
    ready_at: str | None
    log_tail: list[str]
    health: Literal["ok", "error", ""] = Field(
        description="The app's health while the dev server is ready (a compile error, a crashed backend, a page "
                    "that throws make it error); empty before the first check.")
    error: str = Field(description="The error's first lines (naming the file when known), when health is error.")


class ExecIn(Schema):
    command: str | list[str] = Field(description='A shell line ("npm test", run with sh -c) or an argv (["npm", "test"]).')
    cwd: str | None = Field("", description="A folder inside the workspace; the workspace root when empty.")
    env: dict[str, str] | None = None
    timeout: float = Field(60, gt=0, le=MAX_TIMEOUT, description="Seconds; the command is killed after it.")

    @field_validator("command")
    @classmethod
    def _not_empty(cls, command):
        if isinstance(command, str) and not command.strip() or isinstance(command, list) and not command:
            raise ValueError("must be a non-empty string or a non-empty list of strings")
        return command


class ExecOut(Schema):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration: float


# Starting needs a running Docker engine (503) and may be refused while the app is busy (409).
DEV_ERRORS = errors(404, 409, 503)


def _start(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    services.dev_start(app=app)
    return Status(202, selectors.dev_summary(app=app))


def _status(request, slug):
    return selectors.dev_summary(app=app_for_user(user=request.user, slug=slug))


def _stop(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    services.dev_stop(app=app, keep_warm=True)
    return selectors.dev_summary(app=app)


def _exec(app, payload: ExecIn):
    result = services.dev_exec(app=app, command=payload.command, cwd=payload.cwd or "", env=payload.env or {},
                               timeout=payload.timeout)
    return result.as_dict()


@router.get("/apps/{slug}/dev", response={200: DevOut, **errors(404)}, url_name="app_dev",
            summary="The dev container's state", description="Phase, message, preview URL and the last log lines.")
def dev_status(request, slug: str):
    return _status(request, slug)


@router.post("/apps/{slug}/dev", response={202: DevOut, **DEV_ERRORS}, url_name="app_dev_start",
             summary="Start the dev container",
             description="Queued: the answer is 202 with the phase; poll GET until `ready` or `failed`.")
def dev_start(request, slug: str):
    return _start(request, slug)


@router.delete("/apps/{slug}/dev", response={200: DevOut, **DEV_ERRORS}, url_name="app_dev_stop",
               summary="Stop the dev container")
def dev_stop(request, slug: str):
    return _stop(request, slug)


@router.post("/apps/{slug}/dev/start", response={202: DevOut, **DEV_ERRORS}, url_name="app_dev_start_seed",
             summary="Start the dev container (seed path)", description="Same as `POST /api/apps/{slug}/dev`.")
def dev_start_seed(request, slug: str):
    return _start(request, slug)


@router.get("/apps/{slug}/dev/status", response={200: DevOut, **errors(404)}, url_name="app_dev_status_seed",
            summary="The dev container's state (seed path)", description="Same as `GET /api/apps/{slug}/dev`.")
def dev_status_seed(request, slug: str):
    return _status(request, slug)


@router.post("/apps/{slug}/dev/stop", response={200: DevOut, **DEV_ERRORS}, url_name="app_dev_stop_seed",
             summary="Stop the dev container (seed path)", description="Same as `DELETE /api/apps/{slug}/dev`.")
def dev_stop_seed(request, slug: str):
    return _stop(request, slug)


EXEC_DESCRIPTION = ("Runs in the app's dev container (never on the host) as its unprivileged user; 409 when the "
                    "container is not running, 400 for a `cwd` outside the workspace.")


@router.post("/apps/{slug}/exec", response={200: ExecOut, **errors(400, 404, 409, 422, 503)}, url_name="app_exec",
             summary="Run a command in the dev container", description=EXEC_DESCRIPTION)
def exec_command(request, slug: str, payload: ExecIn):
    return _exec(app_for_user(user=request.user, slug=slug), payload)


class LogLine(Schema):
    ts: str = Field(description="Docker's RFC 3339 timestamp of the line.")
    line: str
    container: str = Field(description="The container's role: dev, prod, prod-backend or prod-frontend.")


class LogsOut(Schema):
    target: str
    lines: list[LogLine]


@router.get("/apps/{slug}/logs", response={200: LogsOut, **errors(404, 409, 422, 503)}, url_name="app_logs",
            summary="The last lines of the app's container output",
            description="`target=dev` (the dev container) or `prod` (every production container; `prod-backend`, "
                        "`prod-frontend` for one). 409 `conflict` when that target has no container (prod before a "
                        "deploy, dev when stopped). For the live tail use the websocket `/ws/apps/{slug}/logs/{role}/`.")
def app_logs(request, slug: str, target: str = "dev", tail: int = Query(100, ge=0, le=logs.MAX_TAIL)):
    app = app_for_user(user=request.user, slug=slug)
    lines = []
    for source in logs.log_sources(app=app, target=target):
        lines += [{**line, "container": source.role} for line in logs.log_tail(source=source, tail=tail)]
    lines.sort(key=lambda line: line["ts"])
    return {"target": target, "lines": lines[-tail:] if tail else []}


# ---------------------------------------------------------------- seed 002's sandboxes


class SandboxExecIn(ExecIn):
    session_id: str = Field(description="The app's slug.")


class SandboxIn(Schema):
    session_id: str = Field(description="The app's slug.")


class SandboxDestroyOut(Schema):
    session_id: str
    dev: DevOut


class SandboxDestroyAllOut(Schema):
    stopped: list[str] = Field(description="The slugs of the apps whose idle dev container was stopped.")


def _admin_only(request) -> None:
    # Checked before the app is looked up, so a non-admin learns nothing about which apps exist.
    if not request.user.is_superuser:
        raise ApiError("Only MGX admins may destroy sandboxes.", status=403, code="forbidden")


@sandbox_router.post("/sandbox/exec", response={200: ExecOut, **errors(400, 404, 409, 422, 503)},
                     url_name="sandbox_exec", summary="Run a command in an app's dev container (seed path)",
                     description="Same as `POST /api/apps/{slug}/exec` with `session_id` = the slug. " + EXEC_DESCRIPTION)
def sandbox_exec(request, payload: SandboxExecIn):
    return _exec(app_for_user(user=request.user, slug=payload.session_id), payload)


@sandbox_router.post("/sandbox/destroy", response={200: SandboxDestroyOut, **errors(404, 409, 422, 503)},
                     url_name="sandbox_destroy", summary="Stop one app's containers (MGX admins)",
                     description="Its dev container and route go; the workspace stays.")
def sandbox_destroy(request, payload: SandboxIn):
    _admin_only(request)
    app = app_for_user(user=request.user, slug=payload.session_id)
    services.dev_stop(app=app, reason="Stopped by an MGX admin")
    return {"session_id": app.slug, "dev": selectors.dev_summary(app=app)}


@sandbox_router.post("/sandbox/destroy_all", response={200: SandboxDestroyAllOut, **errors(409, 503)},
                     url_name="sandbox_destroy_all", summary="Stop every idle dev container (MGX admins)",
                     description="Those nobody has requested for MGX_DEV_IDLE_TIMEOUT, as the periodic reaper does.")
def sandbox_destroy_all(request):
    _admin_only(request)
    return {"stopped": services.dev_reap_idle()}
