"""One agent run, start to end: `python manage.py run_agent --session <slug> --run <run_id>`.

The runner is what the agent container executes, and it reaches no database: its run, its
events, usage, status, the session's usage totals, its LangGraph checkpoints and the workspace
commit all go through MGX's internal agent API (MGX_AGENT_API_URL, bearer MGX_AGENT_TOKEN,
`agents.agent_client`), where MGX writes them on the host (events through `event_append`, so
their numbering and live streaming are MGX's). The app's facts come from the environment
(MGX_APP_NAME, MGX_APP_FRAMEWORK), the workspace from the mounted MGX_WORKSPACE_ROOT/<slug>,
the model from MGX_LLM_*.

Files are written through `Workspace` (path checks, atomic renames, version checks) without the
workspace lock: the lock is MGX's, on the host, and MGX takes it when it commits. The runner
never runs git.

A run either starts a new turn (`run.input`, the user's message) or resumes the turn that
stopped at an interrupt (`run.resume` = {"call_id", "approved", "command"?, "answer"?}); the
LangGraph checkpoint (thread = the slug, `agents.checkpoints`) carries the conversation between
runs and processes. Every run ends with one git commit of the workspace (also a run that
paused), and:
  done    → FINISH {status: done|steps|budget|loop|no_llm, summary, commit ('' = nothing changed)}; exit 0
  cancelled by the user (MGX wrote the FINISH; the token is dead) → stops at its next call to MGX; exit 0
  paused  → INTERRUPT {call_id, tool, args, kind, reason, role, commit}; run waiting; exit 0
  failure → ERROR {message}; run failed; exit 1
"""
from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path

from django.conf import settings

from core.frameworks import FRAMEWORKS
from core.markdown import md_text
from workspaces.fs import Workspace

from . import llm, prompts
from .agent_client import AgentApi, AgentApiError, RunEnded
from .checkpoints import ApiCheckpointSaver
from .graph import RunContext, build_graph, new_turn
from .tools import Tools

log = logging.getLogger(__name__)


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


def _summary_line(text: str, limit: int = 72) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def commit_workspace(api: AgentApi, summary: str) -> str:
    """The run's one commit, made by MGX ('' when nothing changed)."""
    return api.commit(_summary_line(summary) or "work on the app")


def run_agent(*, session: str, run_id: str, api_url: str = "", token: str = "") -> int:
    """Run one agent run to its end; the process exit code (0 done, waiting or cancelled, 1
    failed, 2 no such run). `api_url`/`token` default to MGX_AGENT_API_URL/MGX_AGENT_TOKEN."""
    api = AgentApi(api_url, token)
    try:
        run = api.run()
    except RunEnded:
        log.info("Run %s is not running (cancelled before it started, or already over)", run_id)
        return 0
    except AgentApiError as exc:
        log.error("Run %s: %s", run_id, exc)
        return 2
    if run["session"] != session or run["run_id"] != run_id:
        log.error("The token is for run %s of %s, not run %s of %s", run["run_id"], run["session"], run_id, session)
        return 2

    def emit(type_: str, payload: dict):
        return api.event(type_, payload)

    ws = workspace_of(session)
    try:
        return _run(api, run, ws, emit)
    except RunEnded:
        log.info("Run %s was cancelled or ended by MGX; stopping", run_id)
        return 0


def _run(api: AgentApi, run: dict, ws: Workspace, emit) -> int:
    session, run_id = run["session"], run["run_id"]
    try:
        if not ws.root.is_dir():
            raise RunError(f"The workspace of '{session}' is missing, so the team has nothing to work on.")
        app_name, framework = app_facts(session, ws)
        if not llm.configured():
            emit("AGENT_START", {"role": "team_leader"})
            text = prompts.no_llm_message(app_name=app_name, framework=framework)
            emit("MESSAGE_DELTA", {"role": "team_leader", "message_id": run_id, "text": text})
            sha = commit_workspace(api, f"{app_name} from the {framework} template")
            emit("FINISH", {"status": "no_llm", "summary": text, "commit": sha})
            api.finish("done", text)
            return 0
        return _run_graph(api, run, ws, app_name, framework, emit)
    except RunEnded:
        raise
    except Exception as exc:  # the chat must say what happened; the container's log has the trace
        log.error("Run %s failed:\n%s", run_id, traceback.format_exc())
        message = str(exc) if isinstance(exc, RunError) else f"The agent run failed: {type(exc).__name__}: {exc}"
        try:
            commit_workspace(api, "work before an error")
        except RunEnded:
            raise
        except Exception:  # the error below matters more than a failed commit
            log.exception("commit after a failed run")
        # The chat shows ERROR as markdown; an exception's text (a path, an endpoint's answer) is text.
        emit("ERROR", {"message": md_text(message[:4000])})
        api.finish("failed", message)
        return 1


def _run_graph(api: AgentApi, run: dict, ws: Workspace, app_name: str, framework: str, emit) -> int:
    from langgraph.errors import GraphRecursionError
    from langgraph.types import Command

    session, run_id = run["session"], run["run_id"]

    def record_usage(role: str, reply: llm.ModelReply) -> None:
        api.usage(role=role, model=reply.model, prompt_tokens=reply.prompt_tokens,
                  completion_tokens=reply.completion_tokens, cost=reply.cost, started_at=reply.started_at,
                  duration_ms=reply.duration_ms)
        payload = {"role": role, "model": reply.model, "prompt_tokens": reply.prompt_tokens,
                   "completion_tokens": reply.completion_tokens, "cost": reply.cost}
        if reply.estimated:
            payload["estimated"] = True
        emit("USAGE", payload)

    before = api.session_usage()
    ctx = RunContext(
        session=session, run_id=run_id, app_name=app_name, framework=framework,
        tools=Tools(ws, api_url=api.url, api_token=api.token), emit=emit, record_usage=record_usage,
        max_steps=settings.MGX_AGENT_MAX_STEPS, run_token_budget=settings.MGX_AGENT_RUN_TOKEN_BUDGET,
        app_token_budget=settings.MGX_AGENT_APP_TOKEN_BUDGET, loop_limit=settings.MGX_AGENT_LOOP_LIMIT,
        app_tokens_before=before["prompt_tokens"] + before["completion_tokens"],
        cancelled=api.cancelled,
    )
    resume = run.get("resume")
    saver = ApiCheckpointSaver(api)
    graph = build_graph(ctx, saver)
    config = {"configurable": {"thread_id": session},
              # Our own step limit ends a run first; this only guards against a graph bug.
              "recursion_limit": max(100, settings.MGX_AGENT_MAX_STEPS * 40)}
    if resume:
        waiting = graph.get_state(config).interrupts
        call_ids = [i.value.get("call_id") for i in waiting if isinstance(i.value, dict)]
        if not waiting:
            raise RunError("There is nothing waiting for an answer in this session; send a new message instead.")
        if resume.get("call_id") and resume["call_id"] not in call_ids:
            raise RunError("That action is no longer waiting for an answer (the session moved on).")
        graph_input = Command(resume=dict(resume))
    else:
        graph_input = new_turn(run.get("input") or "")
    paused = None
    try:
        for chunk in graph.stream(graph_input, config, stream_mode="updates"):
            if "__interrupt__" in chunk:
                paused = chunk["__interrupt__"][0].value
    except GraphRecursionError:
        ctx.stop("steps", prompts.LIMIT_MESSAGES["steps"].format(limit=ctx.max_steps))

    if paused is not None:
        sha = commit_workspace(api, f"work before asking: {paused.get('reason', '')}")
        emit("INTERRUPT", {**paused, "commit": sha})
        api.finish("waiting", str(paused.get("reason", "")))
        return 0
    outcome = ctx.outcome
    status, summary = (outcome.status, outcome.summary) if outcome else ("done", ctx.last_text or "Done.")
    if status == "cancelled":
        return 0  # MGX wrote the FINISH, and commits what the run left when its container ends
    sha = commit_workspace(api, summary)
    emit("FINISH", {"status": status, "summary": summary, "commit": sha})
    api.finish("done", summary)
    return 0
