from .documents import AgentEvent, AgentRun, CheckpointBlob, CheckpointWrite, UsageRecord


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


def _checkpoint_dict(doc: CheckpointBlob) -> dict:
    writes = CheckpointWrite.objects(session=doc.session, ns=doc.ns, checkpoint_id=doc.checkpoint_id)
    return {
        "ns": doc.ns, "id": doc.checkpoint_id, "parent_id": doc.parent_id or "", "type": doc.type,
        "checkpoint": bytes(doc.checkpoint or b""), "metadata_type": doc.metadata_type,
        "metadata": bytes(doc.metadata or b""),
        "writes": [{"task_id": w.task_id, "task_path": w.task_path, "idx": w.idx, "channel": w.channel,
                    "type": w.type, "value": bytes(w.value or b"")}
                   for w in sorted(writes, key=lambda w: (w.task_path, w.task_id, w.idx))],
    }


def checkpoint_get(*, session: str, ns: str, checkpoint_id: str = "") -> dict | None:
    """A session's checkpoint (the newest when no id is given) with its pending writes, as
    opaque bytes."""
    found = CheckpointBlob.objects(session=session, ns=ns)
    if checkpoint_id:
        found = found.filter(checkpoint_id=checkpoint_id)
    doc = found.order_by("-checkpoint_id").first()
    return _checkpoint_dict(doc) if doc else None


def checkpoints_list(*, session: str, ns: str | None = None, before: str = "", limit: int = 100) -> list[dict]:
    """A session's checkpoints, newest first."""
    found = CheckpointBlob.objects(session=session)
    if ns is not None:
        found = found.filter(ns=ns)
    if before:
        found = found.filter(checkpoint_id__lt=before)
    return [_checkpoint_dict(doc) for doc in found.order_by("-checkpoint_id").limit(limit)]
