"""Agent runs in their containers on the real Docker engine: the timeout and cancel kill them,
and a container sees only its own app's workspace. A model endpoint that accepts the
connection and never answers (a hung model) keeps the runner busy for as long as needed."""
import socket
import threading
import time

import docker
import pytest

from agents.documents import AgentEvent, AgentRun
from agents.services import run_execute, runs_reconcile
from agents.testing import agent_run
from containers.docker_client import instance_id
from containers.sandbox import app_network_name
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hung_model(settings, bridge_address):
    with socket.socket() as listener:
        listener.bind((bridge_address, 0))  # where the agent container reaches this host
        listener.listen(16)  # connections queue up; nothing ever answers
        settings.MGX_LLM_BASE_URL = f"http://{bridge_address}:{listener.getsockname()[1]}/v1"
        settings.MGX_LLM_API_KEY = "test-key"
        yield


def _agent_containers(slug):
    return docker.from_env().containers.list(all=True, filters={"label": ["mgx.role=agent", f"mgx.app={slug}"]})


def test_a_run_past_the_timeout_is_killed_and_says_so(agent_image, app_factory, hung_model, settings, live):
    settings.MGX_AGENT_TIMEOUT = 8
    app = app_factory(name="Slow Model")
    run = agent_run(session=app.slug, user=app.owner.username, input="Build it", message=True)

    started = time.monotonic()
    assert run_execute(run_id=run.run_id) == "failed"

    assert time.monotonic() - started < 40
    assert _agent_containers(app.slug) == []  # killed and removed
    error = AgentEvent.objects(session=app.slug, type="ERROR").first()
    assert "limit and was stopped" in error.payload["message"]
    assert AgentRun.objects(run_id=run.run_id).first().token_hash == ""  # its token died with it


def test_cancel_kills_the_container_at_once(agent_image, app_factory, hung_model, client, live, settings):
    app = app_factory(name="Cancel Me")
    run = agent_run(session=app.slug, user=app.owner.username, input="Build it", message=True)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("status", run_execute(run_id=run.run_id)))
    worker.start()
    deadline = time.monotonic() + 60
    while not AgentRun.objects(run_id=run.run_id).first().container_id and time.monotonic() < deadline:
        time.sleep(0.2)
    container_id = AgentRun.objects(run_id=run.run_id).first().container_id
    assert container_id, "the container never started"
    # What the container sees: MGX's code directories read-only, its own workspace, no Docker
    # socket; on its app's own network, as the app user, without capabilities.
    attrs = docker.from_env().containers.get(container_id).attrs
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    code = {d for d in mounts if d.startswith("/srv/mgx/")}
    assert set(mounts) == code | {f"/workspaces/{app.slug}"}
    assert {"/srv/mgx/agents", "/srv/mgx/manage.py"} <= code and "/srv/mgx/var" not in code
    assert not any(mounts[d]["RW"] for d in code) and mounts[f"/workspaces/{app.slug}"]["Source"] == str(workspace_for(app).root)
    assert list(attrs["NetworkSettings"]["Networks"]) == [app_network_name(slug=app.slug)]
    assert attrs["Config"]["User"] not in ("", "0", "root", "0:0")
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"] and attrs["HostConfig"]["ReadonlyRootfs"] is True

    client.force_login(app.owner)
    clicked = time.monotonic()
    assert client.post(f"/sessions/{app.slug}/agent/runs/{run.run_id}/cancel").json() == {"status": "cancelled"}
    worker.join(30)

    assert outcome["status"] == "cancelled" and time.monotonic() - clicked < 15
    assert _agent_containers(app.slug) == []
    finish = AgentEvent.objects(session=app.slug, type="FINISH").first()
    assert finish.payload["status"] == "cancelled"


def test_a_restarted_worker_ends_runs_it_can_no_longer_watch(agent_image, app_factory, live):
    app = app_factory(name="Orphan Run")
    run = agent_run(session=app.slug, user=app.owner.username, input="Build it", message=True)
    AgentRun.objects(run_id=run.run_id).update_one(set__status="running")
    stray = docker.from_env().containers.create(agent_image, ["sleep", "600"], labels={
        "mgx.instance": instance_id(), "mgx.role": "agent", "mgx.app": app.slug})

    assert runs_reconcile() == [run.run_id]

    assert AgentRun.objects(run_id=run.run_id).first().status == "failed"
    assert "send your message again" in AgentEvent.objects(session=app.slug, type="ERROR").first().payload["message"]
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(stray.id)


def test_a_model_an_admin_saved_reaches_the_next_run_without_a_restart(agent_image, app_factory, live, bridge_address,
                                                                      user_factory):
    """Issue 27: the endpoint, key and model set on /admin/model/ are what the next run's
    container calls, read when it starts (nothing in MGX was restarted)."""
    from agents.services import model_settings_save
    from agents.testing import ScriptedLLM, reply

    admin = user_factory(username="model-admin", is_staff=True)
    key = "sk-saved-on-the-page-41"
    app = app_factory(name="Saved Model")
    with ScriptedLLM([reply("All done.", tool=("finish", {"summary": "Nothing to change"}))], host=bridge_address,
                     api_key=key, known_models=("saved-model",), repeat_last=True) as llm:
        model_settings_save(base_url=llm.base_url, model="saved-model", role_models={}, by=admin, api_key=key)
        run = agent_run(session=app.slug, user=app.owner.username, input="Say hello", message=True)
        assert run_execute(run_id=run.run_id) == "done"
    assert llm.requests and {r["model"] for r in llm.requests} == {"saved-model"}
    assert set(llm.authorizations) == {f"Bearer {key}"}
