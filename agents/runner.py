"""One agent run, start to end: `python manage.py run_agent --session <slug> --run <run_id>`.

The runner is what the agent container executes. It needs no SQL database: the run comes from
MongoDB (`AgentRun`), the app's facts from the environment (MGX_APP_NAME, MGX_APP_FRAMEWORK),
the workspace from the mounted MGX_WORKSPACE_ROOT/<slug>, the model from MGX_LLM_*, and MGX's
internal agent API (commands, dev server, preview, logs) from MGX_AGENT_API_URL with the run's
token in MGX_AGENT_TOKEN.

A run either starts a new turn (`run.input`, the user's message) or resumes the turn that
stopped at an interrupt (`run.resume` = {"call_id", "approved", "command"?, "answer"?}); the
LangGraph checkpoint in MongoDB (thread = the slug) carries the conversation between runs and
processes. Every run ends with one git commit of the workspace (also a run that paused), and:
  done    → FINISH {status: done|steps|budget|loop|no_llm, summary, commit ('' = nothing changed)}; exit 0
  cancelled by the user (MGX wrote the FINISH) → stops before the next model call; exit 0
  paused  → INTERRUPT {call_id, tool, args, kind, reason, role, commit}; run waiting; exit 0
  failure → ERROR {message}; run failed; exit 1
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import traceback
from pathlib import Path

from django.conf import settings

from workspaces import git
from workspaces.fs import Workspace

from . import llm, prompts
from .documents import AgentRun
from .graph import RunContext, build_graph, new_turn
from .selectors import run_get, usage_for_session
from .services import event_append, usage_record
from .tools import Tools, api_token, api_url, workspace_lock

log = logging.getLogger(__name__)

AUTHOR = "MGX agent team"
CHECKPOINT_DB = "mgx"
CHECKPOINTS = "agent_checkpoints"
CHECKPOINT_WRITES = "agent_checkpoint_writes"
FRAMEWORKS = ("nextjs", "fastapi_vite")


class RunError(Exception):
    """A run that cannot go on; the message is shown in the chat."""


def workspace_of(slug: str) -> Workspace:
    return Workspace(Path(settings.MGX_WORKSPACE_ROOT) / slug, max_file_bytes=settings.MGX_WORKSPACE_MAX_FILE_BYTES)


def app_facts(slug: str, ws: Workspace) -> tuple[str, str]:
    """(name, framework) from the container's environment; the framework falls back to what the
    workspace looks like, so a hand-started runner still works."""
    name = os.environ.get("MGX_APP_NAME") or slug
    framework = os.environ.get("MGX_APP_FRAMEWORK", "")
    if framework not in FRAMEWORKS:
        framework = "fastapi_vite" if (ws.root / "backend").is_dir() else "nextjs"
    return name, framework


def checkpointer():
    """The LangGraph saver on MGX's MongoDB; the caller closes the client."""
    from langgraph.checkpoint.mongodb import MongoDBSaver
    from pymongo import MongoClient

    client = MongoClient(settings.MGX_MONGO_URL, serverSelectionTimeoutMS=settings.MGX_MONGO_TIMEOUT_MS)
    return client, MongoDBSaver(client, db_name=CHECKPOINT_DB, checkpoint_collection_name=CHECKPOINTS,
                                writes_collection_name=CHECKPOINT_WRITES)


def conversation_forget(*, session: str) -> None:
    """Drop the team's memory of a session (its LangGraph checkpoints). Call it when an app is
    deleted, so a new app that reuses the slug does not inherit the old conversation."""
    client, saver = checkpointer()
    try:
        saver.delete_thread(session)
    finally:
        client.close()


def _summary_line(text: str, limit: int = 72) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def commit_workspace(ws: Workspace, summary: str) -> str:
    """The run's one commit ('' when nothing changed or there is no repository)."""
    if not (ws.root / ".git").is_dir():
        return ""
    with workspace_lock(ws):
        made = git.commit_all(ws.root, message=f"Agent: {_summary_line(summary) or 'work on the app'}", author=AUTHOR)
    return made.sha if made else ""


def _finish_run(run: AgentRun, status: str, summary: str) -> None:
    # Only a run still running changes: a cancel (by the user, from MGX) is never overwritten.
    AgentRun.objects(run_id=run.run_id, status="running").update_one(
        set__status=status, set__summary=summary[:2000], set__finished_at=dt.datetime.now(dt.timezone.utc))


def _cancelled(run_id: str) -> bool:
    return AgentRun.objects(run_id=run_id, status="cancelled").count() > 0


def run_agent(*, session: str, run_id: str) -> int:
    """Run one agent run to its end; the process exit code (0 done or waiting, 1 failed, 2 no run)."""
    run = run_get(run_id=run_id)
    if run is None or run.session != session:
        log.error("No run %s for session %s", run_id, session)
        return 2
    if run.status == "cancelled":
        log.info("Run %s was cancelled before it started", run_id)
        return 0
    if run.status not in ("queued", "running"):
        log.error("Run %s has already run (%s)", run_id, run.status)
        return 2
    AgentRun.objects(run_id=run_id).update_one(set__status="running")

    def emit(type_: str, payload: dict):
        return event_append(session=session, type=type_, payload=payload, run=run_id)

    ws = workspace_of(session)
    try:
        if not ws.root.is_dir():
            raise RunError(f"The workspace of '{session}' is missing, so the team has nothing to work on.")
        app_name, framework = app_facts(session, ws)
        if not llm.configured():
            emit("AGENT_START", {"role": "team_leader"})
            text = prompts.no_llm_message(app_name=app_name, framework=framework)
            emit("MESSAGE_DELTA", {"role": "team_leader", "message_id": run_id, "text": text})
            sha = commit_workspace(ws, f"{app_name} from the {framework} template")
            emit("FINISH", {"status": "no_llm", "summary": text, "commit": sha})
            _finish_run(run, "done", text)
            return 0
        return _run_graph(run, ws, app_name, framework, emit)
    except Exception as exc:  # the chat must say what happened; the container's log has the trace
        log.error("Run %s failed:\n%s", run_id, traceback.format_exc())
        message = str(exc) if isinstance(exc, RunError) else f"The agent run failed: {type(exc).__name__}: {exc}"
        try:
            commit_workspace(ws, "work before an error")
        except Exception:  # the error below matters more than a failed commit
            log.exception("commit after a failed run")
        emit("ERROR", {"message": message[:4000]})
        _finish_run(run, "failed", message)
        return 1


def _run_graph(run: AgentRun, ws: Workspace, app_name: str, framework: str, emit) -> int:
    from langgraph.errors import GraphRecursionError
    from langgraph.types import Command

    session, run_id = run.session, run.run_id

    def record_usage(role: str, reply: llm.ModelReply) -> None:
        usage_record(session=session, run=run_id, role=role, model=reply.model, prompt_tokens=reply.prompt_tokens,
                     completion_tokens=reply.completion_tokens, cost=reply.cost)
        payload = {"role": role, "model": reply.model, "prompt_tokens": reply.prompt_tokens,
                   "completion_tokens": reply.completion_tokens, "cost": reply.cost}
        if reply.estimated:
            payload["estimated"] = True
        emit("USAGE", payload)

    before = usage_for_session(session=session)
    ctx = RunContext(
        session=session, run_id=run_id, app_name=app_name, framework=framework,
        tools=Tools(ws, api_url=api_url(), api_token=api_token()), emit=emit, record_usage=record_usage,
        max_steps=settings.MGX_AGENT_MAX_STEPS, run_token_budget=settings.MGX_AGENT_RUN_TOKEN_BUDGET,
        app_token_budget=settings.MGX_AGENT_APP_TOKEN_BUDGET, loop_limit=settings.MGX_AGENT_LOOP_LIMIT,
        app_tokens_before=before["prompt_tokens"] + before["completion_tokens"],
        cancelled=lambda: _cancelled(run_id),
    )
    client, saver = checkpointer()
    try:
        graph = build_graph(ctx, saver)
        config = {"configurable": {"thread_id": session},
                  # Our own step limit ends a run first; this only guards against a graph bug.
                  "recursion_limit": max(100, settings.MGX_AGENT_MAX_STEPS * 40)}
        if run.resume:
            waiting = graph.get_state(config).interrupts
            call_ids = [i.value.get("call_id") for i in waiting if isinstance(i.value, dict)]
            if not waiting:
                raise RunError("There is nothing waiting for an answer in this session; send a new message instead.")
            if run.resume.get("call_id") and run.resume["call_id"] not in call_ids:
                raise RunError("That action is no longer waiting for an answer (the session moved on).")
            graph_input = Command(resume=dict(run.resume))
        else:
            graph_input = new_turn(run.input or "")
        paused = None
        try:
            for chunk in graph.stream(graph_input, config, stream_mode="updates"):
                if "__interrupt__" in chunk:
                    paused = chunk["__interrupt__"][0].value
        except GraphRecursionError:
            ctx.stop("steps", prompts.LIMIT_MESSAGES["steps"].format(limit=ctx.max_steps))
    finally:
        client.close()

    if paused is not None:
        sha = commit_workspace(ws, f"work before asking: {paused.get('reason', '')}")
        emit("INTERRUPT", {**paused, "commit": sha})
        AgentRun.objects(run_id=run_id, status="running").update_one(set__status="waiting",
                                                                     set__summary=str(paused.get("reason", "")))
        return 0
    outcome = ctx.outcome
    status, summary = (outcome.status, outcome.summary) if outcome else ("done", ctx.last_text or "Done.")
    if status == "cancelled":
        commit_workspace(ws, "work before a cancel")  # MGX already wrote the FINISH
        return 0
    sha = commit_workspace(ws, summary)
    emit("FINISH", {"status": status, "summary": summary, "commit": sha})
    _finish_run(run, "done", summary)
    return 0
