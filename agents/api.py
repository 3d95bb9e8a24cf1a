"""The agent team over HTTP (tag "agent"): start a run from a prompt, follow it as Server-Sent
Events or poll its task, answer what it asks, cancel it. The same services as the chat, so a run
started here shows in the chat and the other way round.

Who may: the app's owner or an MGX admin; anyone else gets 404 (the app's existence is not
theirs to learn), nobody 401, a token of an app's client 401. Writes need the `write` scope.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field, StringConstraints

from core.api import ApiError, ErrorOut, errors
from core.errors import NotFound
from sessions_app.selectors import app_for_user

from . import selectors, services
from .sse import event_stream

router = Router(tags=["agent"])

Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class GenerateIn(Schema):
    prompt: Prompt = Field(description="What the team should do, as you would write it in the chat.")


ERRORS = {404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class RunOut(Schema):
    run_id: str
    status: str = Field(description="queued, running, waiting, done, failed or cancelled")


class ChangedFile(Schema):
    path: str
    action: str = Field(description="created, edited or deleted")


class Usage(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float = Field(description="In the currency of MGX_LLM_PRICE_*; 0 when no price is set.")


class Interrupt(Schema):
    call_id: str
    tool: str
    kind: str = Field(description="approval (approve/reject/edit) or question (approve with an answer)")
    args: dict = {}
    reason: str = ""


class TaskOut(Schema):
    run_id: str
    status: str = Field(description="queued, running, waiting, done, failed or cancelled")
    outcome: str | None = Field(None, description="The FINISH event's status: done, rejected, cancelled, "
                                                  "budget, steps, loop or no_llm")
    summary: str = ""
    commit: str | None = None
    input: str = Field("", description="The prompt this run started from (empty for a resumed run)")
    resume: dict | None = Field(None, description="The decision this run resumed with, if it is a resumed run")
    changed_files: list[ChangedFile]
    usage: Usage
    last_message: str = Field(description="The team's last message in this run")
    interrupt: Interrupt | None = Field(None, description="What the run waits for (status waiting)")
    created_at: dt.datetime
    finished_at: dt.datetime | None = None


class ResumeIn(Schema):
    decision: Literal["approve", "reject", "edit"]
    command: str | None = Field(None, max_length=20_000, description="With \"edit\": the command to run instead")
    answer: str | None = Field(None, max_length=20_000, description="The answer to a question")


class EventsQuery(Schema):
    after: int = Field(0, ge=0, description="Send the events after this seq (the `Last-Event-ID` header wins)")


def _run_out(run) -> dict:
    return {"run_id": run.run_id, "status": run.status}


@router.post("/apps/{slug}/agent/generate", response={202: RunOut, **ERRORS}, summary="Start a run of the team",
             description="The prompt becomes the user's message in the chat and a run of the team is queued "
                         "for it. 409 while a run is active or waits for an answer.")
def generate(request, slug: str, body: GenerateIn):
    app = app_for_user(user=request.auth, slug=slug)
    run = services.run_start(app=app, user=request.auth, text=body.prompt)
    return 202, _run_out(run)


class FixIn(Schema):
    kind: Literal["dev", "build", "release", "prod", "trace", "log"] = Field(
        description="What failed: the dev server's app (dev), a build or a release (ref: its id), a live release's "
                    "errors of the last minutes (prod, ref: the release's id), a request (trace: its trace id), an "
                    "error log record (log: its id, the `id` of a log row).")
    ref: str = Field("", max_length=100)


@router.post("/apps/{slug}/agent/fix", response={202: RunOut, **errors(404, 409, 422, 503)},
             summary="Fix it: send the team a report of an error",
             description="MGX writes the message (what failed, its lines, the file when known, your last request) "
                         "and starts a run on it, as if you had sent it. 404 when that error is gone; 409 while "
                         "the team works.")
def fix(request, slug: str, body: FixIn):
    app = app_for_user(user=request.auth, slug=slug)
    run = services.fix_start(app=app, user=request.auth, kind=body.kind, ref=body.ref)
    return 202, _run_out(run)


@router.get("/apps/{slug}/agent/tasks/{run_id}", response={200: TaskOut, 404: ErrorOut}, summary="A run's status and results",
            description="Status, files changed, tokens and cost, the team's last message, and what the run "
                        "waits for, if anything.")
def task(request, slug: str, run_id: str):
    app = app_for_user(user=request.auth, slug=slug)
    found = selectors.run_task(session=app.slug, run_id=run_id)
    if found is None:
        raise NotFound("This app has no such run.")
    return found


@router.post("/apps/{slug}/agent/runs/{run_id}/resume", response={202: RunOut, **ERRORS},
             summary="Answer what a waiting run asks",
             description="approve, reject, or edit (approve with `command` run instead); a question is "
                         "answered with approve and `answer`. The team resumes in a new run (its id is "
                         "returned). 409 when the run waits for nothing.")
def resume(request, slug: str, run_id: str, body: ResumeIn):
    app = app_for_user(user=request.auth, slug=slug)
    run = services.run_decide(app=app, user=request.auth, run_id=run_id, decision=body.decision,
                              command=body.command or "", answer=body.answer or "")
    return 202, _run_out(run)


@router.post("/apps/{slug}/agent/runs/{run_id}/cancel", response={200: RunOut, 404: ErrorOut, 409: ErrorOut}, summary="Stop a run",
             description="Its container is killed at once; the chat shows the run as cancelled. 409 when the "
                         "run has already ended.")
def cancel(request, slug: str, run_id: str):
    app = app_for_user(user=request.auth, slug=slug)
    run = services.run_cancel(app=app, user=request.auth, run_id=run_id)
    return _run_out(run)


SSE_DOC = (
    "Server-Sent Events (`text/event-stream`): every stored event after `after` (or the `Last-Event-ID` "
    "header), then live ones as the team works. Each event is `id: <seq>`, `event: <TYPE>` (USER_MESSAGE, "
    "AGENT_START, MESSAGE_DELTA, TOOL_START, TOOL_END, FILE_CHANGED, INTERRUPT, USAGE, FINISH, ERROR) and "
    "`data: {\"seq\", \"type\", \"run\", \"payload\", \"at\"}`, the same events the chat shows. Reconnecting "
    "with `Last-Event-ID` resumes exactly after that event. `: ping` comments keep an idle stream open "
    "(every MGX_SSE_HEARTBEAT_SECONDS). The stream does not end by itself."
)


def _last_event_id(request, after: int) -> int:
    raw = request.headers.get("Last-Event-ID")
    if raw is None or not raw.strip():
        return after
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError("Last-Event-ID must be an event's seq (a whole number, 0 or more).", status=422,
                       code="invalid", fields={"Last-Event-ID": ["not a sequence number"]})
    return value


@router.get("/apps/{slug}/agent/events", summary="The app's agent events as Server-Sent Events",
            description=SSE_DOC, response={200: None, 404: ErrorOut, 422: ErrorOut},
            openapi_extra={"responses": {200: {"description": "An endless event stream",
                                                 "content": {"text/event-stream": {"schema": {"type": "string"}}}}}})
async def events(request, slug: str, query: Query[EventsQuery]):
    app = await sync_to_async(app_for_user)(user=request.auth, slug=slug)
    after = _last_event_id(request, query.after)
    response = StreamingHttpResponse(
        event_stream(session=app.slug, after=after, heartbeat=settings.MGX_SSE_HEARTBEAT_SECONDS),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: pass each event on at once
    return response
