from pymongo import ReturnDocument

from .documents import AgentEvent, EventCounter


def event_append(*, session: str, type: str, payload: dict | None = None, run: str = "") -> AgentEvent:
    """Store one event under the next sequence number of its session.

    The number comes from an atomic upsert+$inc on the session's counter, so concurrent writers
    (agent container, Celery task) never hand out the same number; the unique index on
    (session, seq) would refuse it anyway.
    """
    counter = EventCounter._get_collection().find_one_and_update(
        {"_id": session}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    event = AgentEvent(session=session, seq=counter["seq"], type=type, payload=payload or {}, run=run)
    event.save(force_insert=True)
    return event
