"""The one way tests make an agent run (instead of each test file building `AgentRun`s its own way)."""
from __future__ import annotations

import secrets
import uuid

from agents.documents import AgentRun, token_hash
from agents.services import event_append


def agent_run(*, session: str, status: str = "queued", input: str = "", resume: dict | None = None, user: str = "",
              run_id: str = "", message: bool = False) -> AgentRun:
    """A stored run of app `session`. A running one gets its own token, as `run_execute` makes
    it: only its hash is stored, the token itself is `run.token` (what the container is given).
    `message`: the user's message is in the chat too, as `run_start` leaves it."""
    run = AgentRun(run_id=run_id or uuid.uuid4().hex, session=session, status=status, input=input, resume=resume,
                   user=user)
    token = secrets.token_urlsafe(32) if status == "running" else ""
    if token:
        run.token_hash = token_hash(token)
    run.save(force_insert=True)
    run.token = token
    if message:
        event_append(session=session, type="USER_MESSAGE", run=run.run_id, payload={"text": input, "user": user})
    return run
