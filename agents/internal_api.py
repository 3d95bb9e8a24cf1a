"""What the agent container may ask of MGX, and nothing more. Authorised by the run's token (a
bearer, compared by hash) while the run is running; the token names exactly one run of one app.

The runner's own records (it reaches no database): its run, its events (stored and announced by
`event_append`, so numbering and live streaming are MGX's), its usage, its final status, the
session's usage totals, its LangGraph checkpoints (opaque bytes, never deserialised here), the
workspace's changed files and its commit (made here, under the workspace lock).
Its app: run a command in the dev container, start it, read its state, a page of its preview
(redirects are reported, never followed), its logs and the telemetry it sent (traces, errors).

Served only on Daphne's internal listener (mgx_site.asgi.INTERNAL_ONLY).
"""
import base64
import binascii
import json
from functools import wraps

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.errors import Invalid, MgxError, http_status
from deployments import selectors as dev_selectors
from deployments import services as dev_services
from observability.selectors import problems_for_agent, traces_for_agent
from workspaces.selectors import workspace_changes

from . import selectors, services

CHECKPOINT_BODY_LIMIT = 12 * 1024 * 1024  # a MongoDB document holds 16 MB
FINAL_STATUSES = ("done", "failed", "waiting")


class BadRequest(Invalid):
    """The runner sent something malformed; the message says what."""


def agent_token_required(view):
    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        granted = selectors.run_for_token(token=token) if scheme.lower() == "bearer" else None
        if granted is None:
            return JsonResponse({"error": "A valid agent run token is required."}, status=401)
        request.agent_run, request.agent_app = granted
        try:
            return view(request, *args, **kwargs)
        except MgxError as exc:  # the status comes from what kind of refusal it is
            return JsonResponse({"error": str(exc)}, status=http_status(exc))

    return wrapper


def _body(request, limit: int | None = None) -> dict:
    try:
        raw = request.read(limit + 1) if limit else request.body
        if limit and len(raw) > limit:
            raise BadRequest(f"The request body is larger than {limit} bytes.")
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _str(body: dict, key: str, *, limit: int = 200) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"'{key}' must be a string of at most {limit} characters.")
    return value


def _int(body: dict, key: str, *, low: int = 0, high: int = 10**9) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{key}' must be an integer from {low} to {high}.")
    return value


def _bytes(body: dict, key: str) -> bytes:
    try:
        return base64.b64decode(_str(body, key, limit=CHECKPOINT_BODY_LIMIT), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"'{key}' must be base64.") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- the run's own records


@agent_token_required
@require_GET
def run_state(request):
    run = request.agent_run
    return JsonResponse({"run_id": run.run_id, "session": run.session, "status": run.status, "input": run.input,
                         "resume": run.resume or None})


@agent_token_required
@require_GET
def cancelled(request):
    # A cancelled run's token no longer opens anything (401): whoever gets here is still running.
    return JsonResponse({"cancelled": request.agent_run.status == "cancelled"})


@agent_token_required
@require_POST
def event(request):
    body = _body(request)
    type_ = body.get("type")
    if type_ not in services.RUNNER_EVENTS:
        raise BadRequest(f"'type' must be one of {', '.join(services.RUNNER_EVENTS)}.")
    payload = body.get("payload") or {}
    if not isinstance(payload, dict):
        raise BadRequest("'payload' must be an object.")
    run = request.agent_run
    stored = services.event_append(session=run.session, type=type_, payload=payload, run=run.run_id)
    return JsonResponse({"seq": stored.seq})


@agent_token_required
@require_POST
def usage(request):
    body = _body(request)
    prompt, completion = _int(body, "prompt_tokens"), _int(body, "completion_tokens")
    cost = body.get("cost", 0)
    # The container counts tokens, so it could understate them as well as the cost: both are
    # its word, checked for shape only.
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost < 10**9:
        raise BadRequest("'cost' must be a number of at least 0.")
    timing = {}
    for key, top in (("started_at", 10**11), ("duration_ms", 10**9)):
        value = body.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < top:
            raise BadRequest(f"'{key}' must be a number of at least 0.")
        timing[key] = float(value)
    run = request.agent_run
    services.usage_record(session=run.session, run=run.run_id, role=_str(body, "role", limit=40),
                          model=_str(body, "model"), prompt_tokens=prompt, completion_tokens=completion, cost=float(cost),
                          **timing)
    return JsonResponse({"recorded": True})


@agent_token_required
@require_GET
def session_usage(request):
    return JsonResponse(selectors.usage_for_session(session=request.agent_run.session))


@agent_token_required
@require_POST
def finish(request):
    body = _body(request)
    status = body.get("status")
    if status not in FINAL_STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(FINAL_STATUSES)}.")
    now = services.run_finish(run_id=request.agent_run.run_id, status=status,
                              summary=_str(body, "summary", limit=100_000))
    return JsonResponse({"status": now})


@agent_token_required
@require_POST
def commit(request):
    message = " ".join(_str(_body(request), "message", limit=10_000).split())[:200] or "work on the app"
    made = services.run_commit(app=request.agent_app, message=message)
    return JsonResponse({"commit": made.sha if made else ""})


@agent_token_required
@require_GET
def changes(request):
    """The files git sees as changed, untracked or deleted (ignored ones, like node_modules, are
    not looked at), with their current version: how the runner tells what a command changed."""
    return JsonResponse({"files": workspace_changes(app=request.agent_app)})


# ---------------------------------------------------------------- checkpoints (opaque bytes)


def _checkpoint_json(found: dict) -> dict:
    return {**found, "checkpoint": _b64(found["checkpoint"]), "metadata": _b64(found["metadata"]),
            "writes": [{**w, "value": _b64(w["value"])} for w in found["writes"]]}


@agent_token_required
def checkpoints(request):
    session = request.agent_run.session  # the thread is always the run's own session
    if request.method == "GET":
        ns = request.GET.get("ns")
        asked = request.GET.get("limit", "")
        limit = min(max(int(asked), 1), 1000) if asked.isdigit() else 100
        found = selectors.checkpoints_list(session=session, ns=ns, before=request.GET.get("before", ""), limit=limit)
        return JsonResponse({"checkpoints": [_checkpoint_json(c) for c in found]})
    if request.method != "POST":
        return JsonResponse({"error": "GET or POST."}, status=405)
    body = _body(request, CHECKPOINT_BODY_LIMIT)
    checkpoint_id = _str(body, "id")
    if not checkpoint_id:
        raise BadRequest("'id' is required.")
    services.checkpoint_put(session=session, ns=_str(body, "ns"), checkpoint_id=checkpoint_id,
                            parent_id=_str(body, "parent_id"), type=_str(body, "type", limit=40),
                            checkpoint=_bytes(body, "checkpoint"), metadata_type=_str(body, "metadata_type", limit=40),
                            metadata=_bytes(body, "metadata"))
    return JsonResponse({"id": checkpoint_id})


@agent_token_required
@require_GET
def checkpoint_latest(request):
    found = selectors.checkpoint_get(session=request.agent_run.session, ns=request.GET.get("ns", ""),
                                     checkpoint_id=request.GET.get("id", ""))
    return JsonResponse({"checkpoint": _checkpoint_json(found) if found else None})


@agent_token_required
@require_POST
def checkpoint_writes(request):
    body = _body(request, CHECKPOINT_BODY_LIMIT)
    writes = body.get("writes")
    if not isinstance(writes, list) or len(writes) > 1000 or not all(isinstance(w, dict) for w in writes):
        raise BadRequest("'writes' must be a list of objects.")
    checkpoint_id = _str(body, "checkpoint_id")
    if not checkpoint_id:
        raise BadRequest("'checkpoint_id' is required.")
    services.checkpoint_writes_put(
        session=request.agent_run.session, ns=_str(body, "ns"), checkpoint_id=checkpoint_id,
        task_id=_str(body, "task_id"), task_path=_str(body, "task_path", limit=2000),
        writes=[(_int(w, "idx", low=-100, high=100_000), _str(w, "channel"), _str(w, "type", limit=40), _bytes(w, "value"))
                for w in writes],
        replace=bool(body.get("replace")))
    return JsonResponse({"stored": len(writes)})


# ---------------------------------------------------------------- the app


@agent_token_required
@require_POST
def exec_command(request):
    body = _body(request)
    command = body.get("command")
    if not (isinstance(command, str) and command.strip()) and not (isinstance(command, list) and command):
        raise BadRequest("'command' is required.")
    timeout = min(max(float(body.get("timeout") or 120), 1), 900)
    result = dev_services.dev_exec(app=request.agent_app, command=command, cwd=str(body.get("cwd") or ""),
                                   env=body.get("env") or {}, timeout=timeout)
    return JsonResponse(result.as_dict())


@agent_token_required
@require_POST
def dev_start(request):
    dev = dev_services.dev_start(app=request.agent_app)
    return JsonResponse({"phase": dev.phase, "message": dev.message})


@agent_token_required
@require_GET
def dev_status(request):
    summary = dev_selectors.dev_summary(app=request.agent_app)
    return JsonResponse({"phase": summary["phase"], "message": summary["message"], "log_tail": summary["log_tail"],
                         "health": summary["health"], "error": summary["error"]})


@agent_token_required
@require_GET
def preview(request):
    return JsonResponse(services.preview_fetch(app=request.agent_app, path=request.GET.get("path", "/")))


@agent_token_required
@require_GET
def logs(request):
    return JsonResponse({"text": dev_services.dev_logs(app=request.agent_app, lines=200),
                         "telemetry": problems_for_agent(app=request.agent_app.slug)})


@agent_token_required
@require_GET
def traces(request):
    return JsonResponse({"text": traces_for_agent(app=request.agent_app.slug)})
