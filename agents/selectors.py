from .documents import AgentEvent


def events_since(*, session: str, after_seq: int = 0, limit: int = 1000) -> list[AgentEvent]:
    """The events a reconnecting browser has not seen yet, oldest first."""
    return list(AgentEvent.objects(session=session, seq__gt=after_seq).order_by("seq").limit(limit))
