import pytest


@pytest.fixture(autouse=True)
def clean_agent_records():
    """MongoDB outlives the test database: every agents test starts and ends with no events,
    runs, usage or LangGraph checkpoints."""
    from agents.documents import AgentEvent, AgentRun, CheckpointBlob, CheckpointWrite, EventCounter, UsageRecord

    def drop():
        for doc in (AgentEvent, AgentRun, EventCounter, UsageRecord, CheckpointBlob, CheckpointWrite):
            doc.drop_collection()

    drop()
    yield
    drop()


@pytest.fixture(scope="session")
def bridge_address():
    """The host's docker0 address: where an agent container reaches this host (as
    host.docker.internal), so the scripted model server listens there."""
    from django.conf import settings

    from mgx_site.cli.procs import docker_bridge_address

    return docker_bridge_address(settings.MGX_DOCKER_HOST)


@pytest.fixture
def agent_api_url(live):
    """The internal agent API as an agent container reaches it (Daphne's internal listener)."""
    return live.internal_url + "/internal/agent"
