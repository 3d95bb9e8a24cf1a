"""Writes of the agent team's records, and the runs themselves.

Every event is stored under the next sequence number of its session and announced to the app's
channel-layer group (kind "agent.event"), so browsers see it at once; a browser that reconnects
asks for the events after the last seq it saw. Every change of a run's status goes through
`_status_set`, which announces it (kind "run.status").

A run is queued here (`run_start`, `run_resume`) and executed by the Celery task "agents.run",
which calls `run_execute`: one container per run (configured and driven by the adapter
`agents.containers`), mounting MGX's code read-only and only this app's workspace, reaching MGX
only through Daphne's internal listener (`/internal/agent/...`), authorised by a token made for
this run alone, kept only as a hash and dropped when the run ends. Its events, usage, status,
checkpoints and commits come back through that API (agents.internal_api), which calls these
services. The task is sent by name, so this module does not import agents.tasks (which imports
it).
"""
import datetime as _dt
import ipaddress
import logging
import re
import secrets
import time
import uuid
from functools import partial
from urllib.parse import urlsplit

import requests
from celery import current_app
from django.conf import settings
from django.db import transaction
from pymongo import ReturnDocument

from containers.docker_client import DockerUnavailable
from containers.frameworks import framework
from containers.sandbox import CONTAINER_HOST
from core.announce import announce
from core.errors import Conflict, Invalid
from core.markdown import md_code_block, md_text
from core.owner import own_tree
from core.sealed import seal
from core.telemetry import model_call_span
from core.workers import taken_in_present_life, workers_alive
from deployments.selectors import dev_for_app, dev_running_apps
from sessions_app.selectors import app_by_slug
from workspaces.services import (
    workspace_commit,
    workspace_commit_outside,
    workspace_for,
)

from .containers import (
    AgentConfigError,
    ContainerError,
    agent_container_kill,
    agent_container_logs,
    agent_container_remove,
    agent_container_start,
    agent_container_state,
    agent_containers_all,
    host_llm_url,
)
from .documents import (
    EVENT_TYPES,
    AgentEvent,
    AgentRun,
    CheckpointBlob,
    CheckpointWrite,
    EventCounter,
    UsageRecord,
    token_hash,
)
from .endpoint import EndpointCheck, endpoint_check
from .models import ROLES, ModelSettings
from .reports import report_for
from .selectors import KEY_PURPOSE, interrupt_waiting, model_config, model_settings_stored, runs_for_session

log = logging.getLogger(__name__)

AUTHOR = "MGX agent team"
RUNNER_EVENTS = tuple(t for t in EVENT_TYPES if t != "USER_MESSAGE")  # what people say is MGX's to write


def event_append(*, session: str, type: str, payload: dict | None = None, run: str = "", publish: bool = True) -> AgentEvent:
    """Store one event under the next sequence number of its session, then publish it.

    The number comes from an atomic upsert+$inc on the session's counter, so concurrent writers
    (agent container, Celery task, a view) never hand out the same number; the unique index on
    (session, seq) would refuse it anyway.
    """
    counter = EventCounter._get_collection().find_one_and_update(
        {"_id": session}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    # MongoDB keeps milliseconds: the published copy says the same time a replay will.
    now = _dt.datetime.now(_dt.timezone.utc)
    event = AgentEvent(session=session, seq=counter["seq"], type=type, payload=payload or {}, run=run,
                       created_at=now.replace(microsecond=now.microsecond // 1000 * 1000))
    event.save(force_insert=True)
    if publish:
        announce(slug=session, kind="agent.event", data=event.as_dict())
    return event


def usage_record(*, session: str, run: str, role: str, model: str, prompt_tokens: int, completion_tokens: int,
                 cost: float, started_at: float = 0.0, duration_ms: float = 0.0) -> UsageRecord:
    """Record one model call and add it to its run's totals (atomically), and make its span in
    MGX's own telemetry (the call happened in the agent container, which exports nothing itself:
    its start and duration come with the usage)."""
    record = UsageRecord(session=session, run=run, role=role, model=model, prompt_tokens=prompt_tokens,
                         completion_tokens=completion_tokens, cost=cost)
    record.save()
    AgentRun.objects(run_id=run).update_one(inc__prompt_tokens=prompt_tokens, inc__completion_tokens=completion_tokens,
                                            inc__cost=cost)

    model_call_span(app=session, run=run, role=role, model=model, prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens, cost=cost, started_at=started_at, duration_ms=duration_ms)
    return record


# ---------------------------------------------------------------- run status

ACTIVE = ("queued", "running")
ENDED = ("done", "failed", "cancelled")


def _status_set(*, run_id: str, status: str, error: str = "", only_if: dict | None = None, **changes) -> bool:
    """The one place a run's status changes, and is announced (kind "run.status"). `only_if`
    narrows which run may change (e.g. `{"status": "running"}`), so of two writers racing only
    one wins and a cancel is never overwritten. `changes` are further mongoengine updates made
    in the same write. Returns whether the run changed."""
    if status in ENDED:
        changes.setdefault("set__finished_at", _dt.datetime.now(_dt.timezone.utc))
    run = AgentRun.objects(run_id=run_id, **(only_if or {})).modify(new=True, set__status=status, **changes)
    if run is None:
        return False
    _status_announce(run=run, error=error)
    return True


def _status_announce(*, run: AgentRun, error: str = "") -> None:
    announce(slug=run.session, kind="run.status", data={"run": run.run_id, "status": run.status, "error": error})


def _run_create(*, app, user, **fields) -> AgentRun:
    """A new run, queued (a status too: announced like every other)."""
    run = AgentRun(run_id=uuid.uuid4().hex, session=app.slug, user=user.get_username(), status="queued", **fields)
    run.save(force_insert=True)
    _status_announce(run=run)
    return run


def run_finish(*, run_id: str, status: str, summary: str) -> str:
    """The runner's last word on its run: done, failed or waiting (for the user's answer).
    Only a run still running changes, so a cancel (by the user, from MGX) is never overwritten.
    Returns the run's status afterwards."""
    _status_set(run_id=run_id, status=status, only_if={"status": "running"}, set__summary=summary[:2000])
    run = AgentRun.objects(run_id=run_id).only("status").first()
    return run.status if run else "missing"


def run_commit(*, app, message: str):
    """The runner's commit of its work (made on the host, under the workspace lock); None when
    nothing changed."""
    return workspace_commit(app=app, message=f"Agent: {message}", author=AUTHOR)


PREVIEW_LIMIT = 20_000


def preview_fetch(*, app, path: str) -> dict:
    """A page of the app's dev server as the runner's `fetch_preview` sees it: {"status",
    "body"} and, for a redirect, "location". Always the app's own dev server on loopback, and
    never a redirect followed: a Location could point at MGX itself or anything the host reaches."""
    dev = dev_for_app(app=app)
    if dev.phase != dev.Phase.READY or not dev.host_port:
        return {"status": 0, "body": f"The dev server is not ready (phase: {dev.phase}). Start it first."}
    # "" is the app's bare prefix (/apps/<slug>/dev), where frameworks redirect "/" to or from.
    path = "/" + path.lstrip("/") if path else ""
    if any(ord(c) < 0x21 or c in "\\#" for c in path) or len(path) > 2000:
        raise Invalid("'path' must be a URL path without spaces, control characters, '\\' or '#'.")
    url = f"http://127.0.0.1:{dev.host_port}/apps/{app.slug}/dev{path}"
    try:
        got = requests.get(url, timeout=60, allow_redirects=False)
    except requests.RequestException as exc:
        return {"status": 0, "body": f"No answer from the dev server: {type(exc).__name__}"}
    if got.is_redirect or 300 <= got.status_code < 400:
        location = got.headers.get("Location", "")
        return {"status": got.status_code, "location": location,
                "body": f"Redirect (not followed) to: {location or '(no Location header)'}"}
    return {"status": got.status_code, "body": got.text[:PREVIEW_LIMIT]}


# ---------------------------------------------------------------- checkpoints
# The LangGraph saver in the agent container (agents.checkpoints) stores through the internal
# API; these keep its bytes as they came. Nothing here deserialises them.


def checkpoint_put(*, session: str, ns: str, checkpoint_id: str, parent_id: str, type: str, checkpoint: bytes,
                   metadata_type: str, metadata: bytes) -> None:
    CheckpointBlob._get_collection().update_one(
        {"session": session, "ns": ns, "checkpoint_id": checkpoint_id},
        {"$set": {"parent_id": parent_id, "type": type, "checkpoint": checkpoint, "metadata_type": metadata_type,
                  "metadata": metadata, "created_at": _dt.datetime.now(_dt.timezone.utc)}},
        upsert=True)


def checkpoint_writes_put(*, session: str, ns: str, checkpoint_id: str, task_id: str, task_path: str,
                          writes: list[tuple[int, str, str, bytes]], replace: bool) -> None:
    """`writes` = [(idx, channel, type, value)]. Like LangGraph's own savers, an existing write is
    replaced only for the special channels (errors, interrupts, resumes: `replace`)."""
    collection = CheckpointWrite._get_collection()
    for idx, channel, type_, value in writes:
        collection.update_one(
            {"session": session, "ns": ns, "checkpoint_id": checkpoint_id, "task_id": task_id, "idx": idx},
            {"$set" if replace else "$setOnInsert": {"task_path": task_path, "channel": channel, "type": type_,
                                                     "value": value}},
            upsert=True)


LEGACY_CHECKPOINTS = ("agent_checkpoints", "agent_checkpoint_writes")  # MongoDBSaver's, before issue 9


def conversation_forget(*, session: str) -> None:
    """Drop the team's memory of a session (its LangGraph checkpoints). Call it when an app is
    deleted, so a new app that reuses the slug does not inherit the old conversation."""
    CheckpointBlob.objects(session=session).delete()
    CheckpointWrite.objects(session=session).delete()
    db = CheckpointBlob._get_db()
    for name in LEGACY_CHECKPOINTS:
        db[name].delete_many({"thread_id": session})


# ---------------------------------------------------------------- runs


class AgentError(Conflict):
    """A chat action that cannot be done now; the message says why."""


class AgentInputError(AgentError):
    """The user's input to the chat is not usable; `field` names it (the API reports it under
    `fields`)."""

    kind = "invalid"


def _queue(run: AgentRun) -> None:
    """Hand the run to a worker once the surrounding database transaction (if any, e.g. the one
    that made the app) has committed, so the task never looks for rows that are not there yet.
    By the task's name: agents.tasks imports this module."""
    transaction.on_commit(partial(current_app.send_task, "agents.run", args=(run.run_id,)))


def run_start(*, app, user, text: str, report: dict | None = None) -> AgentRun:
    """The user's message: stored as an event, then a run of the team is queued for it. `report`:
    the message is an error report MGX wrote (fix_start), shown in the chat as a card."""
    text = (text or "").strip()
    if not text:
        raise AgentInputError("Write a message first.", field="text")
    if AgentRun.objects(session=app.slug, status__in=ACTIVE).first():
        raise AgentError("The team is still working on your last message: wait for it, or cancel it.")
    if AgentRun.objects(session=app.slug, status="waiting").first():
        raise AgentError("The team is waiting for your answer above: approve, reject or answer it first.")
    run = _run_create(app=app, user=user, input=text[:20_000])
    payload = {"text": run.input, "user": run.user, **({"report": report} if report else {})}
    event_append(session=app.slug, type="USER_MESSAGE", run=run.run_id, payload=payload)
    _queue(run)
    return run


def fix_start(*, app, user, kind: str, ref: str = "") -> AgentRun:
    """"Fix it" on an error: the team gets one message MGX wrote about it (agents.reports: what
    failed, its lines, the file, the person's last request) and starts on it, as if the person
    had sent it. Refused as any message is while the team works; NotFound when the error is gone."""
    report = report_for(app=app, kind=kind, ref=ref)
    return run_start(app=app, user=user, text=report.text, report=report.as_payload())


def run_resume(*, app, user, run_id: str, call_id: str, approved: bool, command: str = "", answer: str = "") -> AgentRun:
    """The user's decision on an interrupt: a new run resumes the team from its checkpoint."""
    waiting = AgentRun.objects(run_id=run_id, session=app.slug).first()
    if waiting is None or waiting.status != "waiting":
        raise AgentError("That question was already answered, or the run has ended.")
    decision = {"call_id": call_id, "approved": bool(approved)}
    if command.strip():
        decision["command"] = command.strip()
    if answer.strip():
        decision["answer"] = answer.strip()[:20_000]
    # Only one answer wins: two clicks (or a script and a browser) at once must not start two runs.
    if not _status_set(run_id=run_id, status="done", only_if={"status": "waiting"}):
        raise AgentError("That question was already answered, or the run has ended.")
    run = _run_create(app=app, user=user, resume=decision)
    said = answer.strip() or ("Approved" if approved else "Rejected") + (f": {decision['command']}" if "command" in decision else "")
    event_append(session=app.slug, type="USER_MESSAGE", run=run.run_id,
                 payload={"text": said, "user": run.user, "resume": decision, "resumes": run_id})
    _queue(run)
    return run


DECISIONS = ("approve", "reject", "edit")


def run_decide(*, app, user, run_id: str, decision: str, command: str = "", answer: str = "") -> AgentRun:
    """The user's decision on what a waiting run asked, without the call id the chat's cards
    carry (scripts over the API): approve, reject, or edit (approve with another command).
    The decision goes to `run_resume`, so the chat and the API resume a run the same way."""
    if decision not in DECISIONS:
        raise AgentInputError(f"The decision must be one of: {', '.join(DECISIONS)}.", field="decision")
    asked = interrupt_waiting(session=app.slug, run_id=run_id)
    if asked is None:
        raise AgentError("That run is not waiting for an answer: it was already answered, has ended, "
                         "or is not a run of this app.")
    if decision == "edit":
        if asked.get("tool") != "run_command":
            raise AgentError(f"Only a command can be edited; this run asks about {asked.get('tool')}: "
                             "approve or reject it.")
        if not command.strip():
            raise AgentInputError("An edit needs the command to run instead.", field="command")
    elif command.strip():
        raise AgentInputError("A command is given only with the decision \"edit\".", field="command")
    if asked.get("kind") == "question" and decision == "approve" and not answer.strip():
        raise AgentInputError("The team asked a question: give an answer.", field="answer")
    return run_resume(app=app, user=user, run_id=run_id, call_id=asked.get("call_id", ""),
                      approved=decision != "reject", command=command if decision == "edit" else "",
                      answer=answer if decision != "reject" else "")


def run_cancel(*, app, user, run_id: str) -> AgentRun:
    """Stop a run at once: its container is killed and the chat says so."""
    run = AgentRun.objects(run_id=run_id, session=app.slug).first()
    if run is None or run.status not in (*ACTIVE, "waiting"):
        raise AgentError("That run is not going any more.")
    _status_set(run_id=run_id, status="cancelled")
    if run.container_id:
        agent_container_kill(container_id=run.container_id)
    event_append(session=app.slug, type="FINISH", run=run_id,
                 payload={"status": "cancelled", "summary": f"Cancelled by {md_text(user.get_username())}.", "commit": None})
    return AgentRun.objects(run_id=run_id).first()


# ---------------------------------------------------------------- execution (the Celery task's work)


def run_execute(*, run_id: str, worker: str = "") -> str:
    """Start the run's container, wait for it to finish, enforce the timeout, clean up.
    `worker` (the Celery node name) is recorded as the run's owner (runs_reconcile).
    Returns the run's final status."""
    run = AgentRun.objects(run_id=run_id).first()
    if run is None or run.status != "queued":
        return run.status if run else "missing"
    app = app_by_slug(slug=run.session)
    if app is None:
        _status_set(run_id=run_id, status="failed", error="The app is gone.")
        return "failed"
    token = secrets.token_urlsafe(32)
    if not _status_set(run_id=run_id, status="running", only_if={"status": "queued"},
                       set__token_hash=token_hash(token), set__worker=worker,
                       set__taken_at=time.time()):
        run = AgentRun.objects(run_id=run_id).only("status").first()  # cancelled (or deleted) while queued
        return run.status if run else "missing"
    workspace_root = workspace_for(app).root
    try:
        # The container runs as the app user: it must be able to write what MGX wrote.
        own_tree(workspace_root)
        # The model endpoint in force now: what an admin set a moment ago applies to this run.
        model = model_config()
        container_id = agent_container_start(app=app, run_id=run_id, token=token, workspace_root=workspace_root,
                                             model=model)
    except (DockerUnavailable, ContainerError, AgentConfigError, OSError) as exc:
        AgentRun.objects(run_id=run_id).update_one(set__token_hash="")
        return _fail(run_id=run_id, slug=app.slug, message=f"The agent could not start: {exc}")
    AgentRun.objects(run_id=run_id).update_one(set__container_id=container_id)

    deadline = time.monotonic() + settings.MGX_AGENT_TIMEOUT
    timed_out = False
    while True:
        state = agent_container_state(container_id=container_id)
        if state is None or state in ("exited", "dead"):
            break  # finished, or killed and removed by a cancel
        if time.monotonic() > deadline:
            timed_out = True
            agent_container_kill(container_id=container_id)
            break
        time.sleep(0.5)

    run = AgentRun.objects(run_id=run_id).first()
    logs = agent_container_logs(container_id=container_id)
    agent_container_remove(container_id=container_id)
    AgentRun.objects(run_id=run_id).update_one(set__token_hash="")  # the token dies with the run
    _leftovers_commit(app=app, status=run.status if not timed_out else "timeout")
    if timed_out:
        return _fail(run_id=run_id, slug=app.slug,
                     message=f"The team ran past the {settings.MGX_AGENT_TIMEOUT // 60}-minute limit and was stopped.")
    if run.status == "running":  # the runner ended without saying how
        tail = "\n".join(logs.splitlines()[-15:]).replace(token, "***")
        if len(model.api_key) >= 4:
            tail = tail.replace(model.api_key, "***")
        return _fail(run_id=run_id, slug=app.slug,
                     message="The agent stopped unexpectedly." + (f"\n\n{md_code_block(tail)}" if tail else ""))
    return run.status


def _leftovers_commit(*, app, status: str) -> None:
    """Every run ends with a commit. The runner makes it through the API while its run is live;
    a run cancelled, killed or timed out cannot any more, so what it wrote is committed here."""
    if status in ("done", "waiting"):
        return
    try:
        workspace_commit(app=app, message=f"Agent: work before the run stopped ({status})", author=AUTHOR)
    except Exception:  # the run's outcome matters more than a failed commit
        log.exception("commit after run of %s", app.slug)


def _fail(*, run_id: str, slug: str, message: str) -> str:
    _status_set(run_id=run_id, status="failed", error=message)
    event_append(session=slug, type="ERROR", run=run_id, payload={"message": message})
    return "failed"


def runs_reconcile(*, worker: str = "", since: float | None = None) -> list[str]:
    """When worker `worker` (a Celery node name) starts: a run that cannot finish any more (its
    watcher is gone) is failed, its container removed, and the chat says what happened, so the
    person can send the message again instead of waiting forever.

    With several workers on one Redis, a running run is orphaned only when its owner is this
    worker (a previous life of it), is dead (its heartbeat key expired, core.workers) or is
    unknown (a run from before owners were recorded). `since` (epoch seconds) is when the
    starting worker's present life began: a run it took after that is watched now, not a
    previous life's (the worker may take work before this runs). A queued run's task is still
    in the shared broker and some live worker will take it; it is failed only when no other
    worker lives. Containers of the runs left alone are left alone too. Each run is failed only
    if it is still as it was read (a worker may take it meanwhile). Safe to repeat: a second
    pass finds nothing left to end. Raises DockerUnavailable when the engine does not answer."""

    ended = []
    stray = agent_containers_all()  # first: an engine that does not answer changes nothing
    others = workers_alive() - {worker} if worker else set()
    kept = set()
    for run in AgentRun.objects(status__in=ACTIVE):
        owned_by_other = run.worker in others if run.status == "running" else bool(others)
        if owned_by_other or (run.status == "running" and taken_in_present_life(
                owner=run.worker, worker=worker, taken_at=run.taken_at, since=since)):
            kept.add(run.run_id)
            continue
        message = "MGX restarted while the team was working on this; send your message again."
        # _fail's two writes, with the container removed between them: the chat hears of the end
        # once the container is gone. Only if its status is still the one read (a running run
        # keeps its worker until it ends).
        if not _status_set(run_id=run.run_id, status="failed", error=message, only_if={"status": run.status}):
            kept.add(run.run_id)  # taken (or ended) since it was read: no longer this pass's to end
            continue
        if run.container_id:
            agent_container_remove(container_id=run.container_id)
        event_append(session=run.session, type="ERROR", run=run.run_id, payload={"message": message})
        ended.append(run.run_id)
    # Containers whose watcher died before it could remove them (not those of live runs).
    for container_id, run_id in stray:
        if run_id not in kept:
            agent_container_remove(container_id=container_id)
    return ended


def session_purge(*, slug: str) -> None:
    """Everything of the team's work on an app, gone (the app is being deleted): its runs are
    cancelled and their containers killed, then its runs, events, their counter, usage and the
    conversation are deleted, so a new app that reuses the slug starts afresh."""
    for run in AgentRun.objects(session=slug, status__in=(*ACTIVE, "waiting")):
        _status_set(run_id=run.run_id, status="cancelled")
        if run.container_id:
            agent_container_kill(container_id=run.container_id)
    conversation_forget(session=slug)
    for document in (AgentEvent, AgentRun, UsageRecord):
        document.objects(session=slug).delete()
    EventCounter.objects(session=slug).delete()


def dev_changes_commit() -> list[str]:
    """Put what changed inside running dev containers (edits over SSH, a dev server's own
    writes) into each app's History, as "dev container". Run every few seconds by Celery beat.
    Apps whose team is working are left alone: a run commits its own work with its own messages.
    The slugs committed."""
    committed = []
    for app in dev_running_apps():
        if any(run.status in ("queued", "running", "waiting") for run in runs_for_session(session=app.slug, limit=3)):
            continue
        try:
            # A file the framework rewrites at each start (next-env.d.ts) is no change of anyone's.
            if workspace_commit_outside(app=app, unless_only=framework(app.framework).self_written) is not None:
                committed.append(app.slug)
        except Exception as exc:  # one broken workspace must not stop the others' history
            log.warning("committing dev-container changes of %s failed: %s", app.slug, exc)
    return committed


# ---------------------------------------------------------------- the model endpoint (/admin/model/)

URL_MAX, MODEL_MAX, KEY_MAX = 500, 200, 1000
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")  # gpt-4o-mini, qwen2.5-coder:14b, org/Model-7B
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0", "::", CONTAINER_HOST)


def _own_services() -> dict[int, str]:
    """Ports of MGX's own services on this host, by port: no model server is there."""
    ports = {
        getattr(settings, "MGX_PORT", 0): "web port", settings.MGX_INTERNAL_PORT: "internal listener",
        getattr(settings, "MGX_APPS_PORT", 0): "apps gateway", settings.MGX_APPS_MONGO_PORT: "apps' MongoDB guard",
        settings.MGX_APPS_MONGO_STORE_PORT: "apps' MongoDB store",
    }
    for url, name in ((settings.MGX_REDIS_URL, "Redis"), (settings.MGX_MONGO_URL, "MongoDB store")):
        try:
            ports[urlsplit(url).port or 0] = name
        except ValueError:
            pass
    db_port = str(settings.DATABASES["default"].get("PORT") or "")
    if db_port.isdigit():
        ports[int(db_port)] = "SQL database"
    ports.pop(0, None)
    return ports


def _own_host(host: str) -> bool:
    """Whether `host` names this machine as MGX's services see it (loopback, the Docker bridge
    address, MGX's own addresses)."""
    host = host.lower().strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
        if address.is_loopback or address.is_unspecified:
            return True
    except ValueError:
        pass
    own = {settings.MGX_INTERNAL_HOST, getattr(settings, "MGX_HOST", ""), getattr(settings, "MGX_APPS_HOST", ""),
           urlsplit(getattr(settings, "MGX_PUBLIC_URL", "")).hostname or ""}
    return host in {h.lower() for h in own if h}


def _endpoint_clean(raw: str) -> str:
    """The endpoint as it will be stored, or Invalid (field "base_url") saying what is wrong."""
    url = (raw or "").strip()
    if not url:
        return ""
    if len(url) > URL_MAX:
        raise Invalid(f"The endpoint is longer than {URL_MAX} characters.", field="base_url")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise Invalid("The endpoint may not contain spaces or control characters.", field="base_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("That is not a URL (is the port a number up to 65535?).", field="base_url") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("The endpoint must be an http:// or https:// URL, e.g. https://api.openai.com/v1.",
                      field="base_url")
    if not parts.hostname:
        raise Invalid("The endpoint needs a host, e.g. http://172.17.0.1:11434/v1.", field="base_url")
    if parts.username or parts.password:
        raise Invalid("Put the key in the API key field, not in the URL (a URL is shown on this page).",
                      field="base_url")
    if parts.fragment:
        raise Invalid("The endpoint may not have a #fragment.", field="base_url")
    service = _own_services().get(port or (443 if parts.scheme == "https" else 80))
    if service and _own_host(parts.hostname):
        raise Invalid(f"{parts.hostname}:{port} is MGX's own {service}, not a model server.", field="base_url")
    return url.rstrip("/")


def _model_clean(raw: str, field: str) -> str:
    name = (raw or "").strip()
    if not name:
        return ""
    if len(name) > MODEL_MAX or not MODEL_NAME.match(name):
        raise Invalid(f"A model name is at most {MODEL_MAX} letters, digits and . _ : / @ + - (no spaces), "
                      "e.g. gpt-4o-mini or qwen2.5-coder:14b.", field=field)
    return name


def model_settings_save(*, base_url: str, model: str, role_models: dict, by, api_key: str = "",
                        clear_key: bool = False) -> ModelSettings:
    """What an MGX admin set on /admin/model/, stored for the next run (no restart). `api_key`
    empty keeps the stored key, `clear_key` removes it; the key is stored sealed and never
    logged. Raises Invalid (with the field) and stores nothing when a value cannot be used."""
    values = {"base_url": _endpoint_clean(base_url), "model": _model_clean(model, "model"),
              "role_models": {}}
    for role in ROLES:
        name = _model_clean((role_models or {}).get(role, ""), f"model_{role}")
        if name:
            values["role_models"][role] = name
    key = (api_key or "").strip()
    if key and (len(key) > KEY_MAX or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in key)):
        raise Invalid(f"An API key is at most {KEY_MAX} characters, without spaces or line breaks.", field="api_key")
    with transaction.atomic():
        stored = model_settings_stored() or ModelSettings(pk=ModelSettings.SINGLETON)
        changed = [name for name, value in values.items() if getattr(stored, name) != value]
        for name, value in values.items():
            setattr(stored, name, value)
        if clear_key and stored.api_key_sealed:
            stored.api_key_sealed = ""
            changed.append("api_key (removed)")
        elif key:
            stored.api_key_sealed = seal(KEY_PURPOSE, key)
            changed.append("api_key")
        stored.updated_by = getattr(by, "get_username", lambda: str(by))()[:150]
        stored.save()
    # Which fields, never their values: the key must not reach a log, and the rest need not.
    log.info("The model settings were changed by %s: %s", stored.updated_by, ", ".join(changed) or "nothing")
    return stored


def model_endpoint_test(*, timeout: float = 20.0) -> EndpointCheck:
    """One small chat completion to the endpoint in force, from MGX's host, with its key and
    model (the team leader's); what it found. A `host.docker.internal` endpoint is called at the
    Docker bridge address, as a container would reach it."""
    config = model_config()
    if not config.configured:
        return EndpointCheck(False, "No endpoint is set: save one first.")
    return endpoint_check(base_url=host_llm_url(config.base_url), api_key=config.api_key,
                          model=config.model_for("team_leader"), timeout=timeout)
