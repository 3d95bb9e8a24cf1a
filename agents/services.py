"""Writes of the agent team's records. Every event is stored under the next sequence number of
its session and announced to the app's channel-layer group (kind "agent.event"), so browsers
see it at once; a browser that reconnects asks for the events after the last seq it saw."""
import datetime as _dt
import uuid

from pymongo import ReturnDocument

from core.announce import announce
from core.errors import Conflict

from .documents import AgentEvent, AgentRun, CheckpointBlob, CheckpointWrite, EventCounter, UsageRecord


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
                 cost: float) -> UsageRecord:
    """Record one model call and add it to its run's totals (atomically)."""
    record = UsageRecord(session=session, run=run, role=role, model=model, prompt_tokens=prompt_tokens,
                         completion_tokens=completion_tokens, cost=cost)
    record.save()
    AgentRun.objects(run_id=run).update_one(inc__prompt_tokens=prompt_tokens, inc__completion_tokens=completion_tokens,
                                            inc__cost=cost)
    return record


def run_finish(*, run_id: str, status: str, summary: str) -> str:
    """The runner's last word on its run: done, failed or waiting (for the user's answer).
    Only a run still running changes, so a cancel (by the user, from MGX) is never overwritten.
    Returns the run's status afterwards."""
    changes = {"set__status": status, "set__summary": summary[:2000]}
    if status != "waiting":
        changes["set__finished_at"] = _dt.datetime.now(_dt.timezone.utc)
    AgentRun.objects(run_id=run_id, status="running").update_one(**changes)
    run = AgentRun.objects(run_id=run_id).only("status").first()
    return run.status if run else "missing"


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

ACTIVE = ("queued", "running")


class AgentError(Conflict):
    """A chat action that cannot be done now; the message says why."""


class AgentInputError(AgentError):
    """The user's input to the chat is not usable; `field` names it (the API reports it under
    `fields`)."""

    kind = "invalid"


def _queue(run: AgentRun) -> None:
    from .tasks import agent_run_task

    agent_run_task.delay(run.run_id)


def run_start(*, app, user, text: str) -> AgentRun:
    """The user's message: stored as an event, then a run of the team is queued for it."""
    text = (text or "").strip()
    if not text:
        raise AgentInputError("Write a message first.", field="text")
    if AgentRun.objects(session=app.slug, status__in=ACTIVE).first():
        raise AgentError("The team is still working on your last message: wait for it, or cancel it.")
    if AgentRun.objects(session=app.slug, status="waiting").first():
        raise AgentError("The team is waiting for your answer above: approve, reject or answer it first.")
    run = AgentRun(run_id=uuid.uuid4().hex, session=app.slug, user=user.get_username(), input=text[:20_000])
    run.save(force_insert=True)
    event_append(session=app.slug, type="USER_MESSAGE", run=run.run_id, payload={"text": run.input, "user": run.user})
    _queue(run)
    return run


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
    if not AgentRun.objects(run_id=run_id, status="waiting").update_one(
            set__status="done", set__finished_at=_dt.datetime.now(_dt.timezone.utc)):
        raise AgentError("That question was already answered, or the run has ended.")
    run = AgentRun(run_id=uuid.uuid4().hex, session=app.slug, user=user.get_username(), resume=decision)
    run.save(force_insert=True)
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
    from .selectors import interrupt_waiting

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
    AgentRun.objects(run_id=run_id).update_one(set__status="cancelled", set__finished_at=_dt.datetime.now(_dt.timezone.utc))
    if run.container_id:
        from .runtime import container_kill

        container_kill(run.container_id)
    event_append(session=app.slug, type="FINISH", run=run_id,
                 payload={"status": "cancelled", "summary": f"Cancelled by {user.get_username()}.", "commit": None})
    return AgentRun.objects(run_id=run_id).first()
