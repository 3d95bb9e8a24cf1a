from .documents import AgentEvent, AgentRun, UsageRecord


def events_since(*, session: str, after_seq: int = 0, limit: int = 1000) -> list[AgentEvent]:
    """The events a reconnecting browser has not seen yet, oldest first."""
    return list(AgentEvent.objects(session=session, seq__gt=after_seq).order_by("seq").limit(limit))


def run_get(*, run_id: str) -> AgentRun | None:
    return AgentRun.objects(run_id=run_id).first()


def runs_for_session(*, session: str, limit: int = 20) -> list[AgentRun]:
    return list(AgentRun.objects(session=session).order_by("-created_at").limit(limit))


def usage_for_session(*, session: str) -> dict:
    """Tokens and cost summed over every model call of the app."""
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "calls": 0}
    for record in UsageRecord.objects(session=session).only("prompt_tokens", "completion_tokens", "cost"):
        totals["prompt_tokens"] += record.prompt_tokens
        totals["completion_tokens"] += record.completion_tokens
        totals["cost"] += record.cost
        totals["calls"] += 1
    return totals
