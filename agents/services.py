"""Writes of the agent team's records. Every event is stored under the next sequence number of
its session and announced to the app's channel-layer group (kind "agent.event"), so browsers
see it at once; a browser that reconnects asks for the events after the last seq it saw."""
from pymongo import ReturnDocument

from mgx_site.announce import announce

from .documents import AgentEvent, AgentRun, EventCounter, UsageRecord


def event_append(*, session: str, type: str, payload: dict | None = None, run: str = "", publish: bool = True) -> AgentEvent:
    """Store one event under the next sequence number of its session, then publish it.

    The number comes from an atomic upsert+$inc on the session's counter, so concurrent writers
    (agent container, Celery task, a view) never hand out the same number; the unique index on
    (session, seq) would refuse it anyway.
    """
    counter = EventCounter._get_collection().find_one_and_update(
        {"_id": session}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    event = AgentEvent(session=session, seq=counter["seq"], type=type, payload=payload or {}, run=run)
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
