import pytest


@pytest.fixture(autouse=True)
def clean_agent_records():
    """MongoDB outlives the test database: every agents test starts and ends with no events,
    runs, usage or LangGraph checkpoints."""
    from mongoengine.connection import get_db

    from agents.documents import AgentEvent, AgentRun, EventCounter, UsageRecord
    from agents.runner import CHECKPOINT_DB, CHECKPOINT_WRITES, CHECKPOINTS

    def drop():
        for doc in (AgentEvent, AgentRun, EventCounter, UsageRecord):
            doc.drop_collection()
        db = get_db().client[CHECKPOINT_DB]
        db.drop_collection(CHECKPOINTS)
        db.drop_collection(CHECKPOINT_WRITES)

    drop()
    yield
    drop()


@pytest.fixture
def agent_api_url(live):
    """The internal agent API as an agent container reaches it (Daphne's internal listener)."""
    return getattr(live, "internal_url", live.url) + "/internal/agent"
