"""The runtime around the agent engine: chat actions, the event stream with replay, and the
internal API the agent container uses (token-scoped to one app)."""
import json

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from agents.documents import AgentEvent, AgentRun
from agents.services import event_append
from agents.testing import agent_run

pytestmark = pytest.mark.django_db(transaction=True)


def _ws(live, http, slug, after):
    return connect(f"{live.ws_url}/ws/apps/{slug}/agent/?after={after}", open_timeout=10,
                   additional_headers={"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url})


def test_reconnecting_replays_exactly_the_events_after_the_last_seen_seq(live, app_factory, user_factory):
    owner = user_factory(username="chatter")
    app = app_factory(owner=owner, name="Chat Replay")
    http = live.login("chatter", owner.raw_password)
    for i in range(1, 6):
        event_append(session=app.slug, type="MESSAGE_DELTA", payload={"role": "engineer", "message_id": "m1", "text": f"part {i} "})

    with _ws(live, http, app.slug, after=3) as ws:
        replayed = [json.loads(ws.recv(timeout=10))["data"]["seq"] for _ in range(2)]
        event_append(session=app.slug, type="FINISH", payload={"status": "done", "summary": "ok", "commit": None})
        live_event = json.loads(ws.recv(timeout=10))["data"]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1)  # nothing twice
    assert replayed == [4, 5]
    assert (live_event["seq"], live_event["type"]) == (6, "FINISH")


def test_another_user_cannot_listen_to_the_chat(live, app_factory, user_factory):
    owner = user_factory(username="owner1")
    app = app_factory(owner=owner, name="Secret Chat")
    event_append(session=app.slug, type="USER_MESSAGE", payload={"text": "the secret plan", "user": "owner1"})
    user_factory(username="eve")
    eve = live.login("eve", "correct horse battery")
    # The handshake itself is refused. Were the socket opened, the stored event would arrive
    # (or the wait would time out): either way not this refusal, and the test fails.
    with pytest.raises(InvalidStatus) as refused:
        with _ws(live, eve, app.slug, after=0) as ws:
            ws.recv(timeout=5)
    assert refused.value.response.status_code == 403
    # The same socket opens for the owner: the refusal is about who asks, not a broken address.
    with _ws(live, live.login("owner1", owner.raw_password), app.slug, after=0) as ws:
        assert json.loads(ws.recv(timeout=10))["data"]["payload"]["text"] == "the secret plan"


def test_a_message_starts_one_run_a_second_waits_and_cancel_stops_it(client, app_factory, user_factory, settings):
    settings.MGX_LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the chat takes messages once a model is configured
    owner = user_factory(username="sender")
    app = app_factory(owner=owner, name="Chat Actions")
    client.force_login(owner)

    assert client.post(f"/sessions/{app.slug}/agent/messages", {"text": "   "}).status_code == 400
    first = client.post(f"/sessions/{app.slug}/agent/messages", {"text": "Build a todo list"})
    assert first.status_code == 202
    run_id = first.json()["run"]
    stored = AgentEvent.objects(session=app.slug).first()
    assert (stored.type, stored.payload["text"], stored.run) == ("USER_MESSAGE", "Build a todo list", run_id)

    AgentRun.objects(run_id=run_id).update_one(set__status="running")  # as the worker does
    busy = client.post(f"/sessions/{app.slug}/agent/messages", {"text": "and another thing"})
    assert busy.status_code == 409 and "still working" in busy.json()["error"]

    cancelled = client.post(f"/sessions/{app.slug}/agent/runs/{run_id}/cancel")
    assert cancelled.json() == {"status": "cancelled"}
    last = AgentEvent.objects(session=app.slug).order_by("-seq").first()
    assert (last.type, last.payload["status"]) == ("FINISH", "cancelled")


def test_an_interrupt_is_answered_once(client, app_factory, user_factory):
    owner = user_factory(username="decider")
    app = app_factory(owner=owner, name="Chat Decide")
    client.force_login(owner)
    agent_run(session=app.slug, status="waiting", run_id="r1")

    ok = client.post(f"/sessions/{app.slug}/agent/runs/r1/resume", {"call_id": "c1", "approved": "1", "command": "npm test -- --watch=false"})
    assert ok.status_code == 202
    new = AgentRun.objects(run_id=ok.json()["run"]).first()
    assert new.resume == {"call_id": "c1", "approved": True, "command": "npm test -- --watch=false"}
    said = AgentEvent.objects(session=app.slug).order_by("-seq").first()
    assert said.type == "USER_MESSAGE" and said.payload["text"] == "Approved: npm test -- --watch=false"
    again = client.post(f"/sessions/{app.slug}/agent/runs/r1/resume", {"call_id": "c1", "approved": "0"})
    assert again.status_code == 409


def test_chat_actions_on_someone_elses_app_are_404(client, app_factory, user_factory):
    app = app_factory(owner=user_factory(username="realowner"), name="Not Yours")
    client.force_login(user_factory(username="mallory"))
    assert client.post(f"/sessions/{app.slug}/agent/messages", {"text": "rm -rf everything"}).status_code == 404
    assert AgentRun.objects(session=app.slug).count() == 0


def test_the_internal_api_answers_only_a_running_runs_token_and_only_for_its_app(live, app_factory, user_factory,
                                                                                agent_api_url):
    owner = user_factory(username="tokenowner")
    mine = app_factory(owner=owner, name="Token App")
    app_factory(owner=owner, name="Other App")
    token = agent_run(session=mine.slug, status="running", run_id="live-run").token
    base = agent_api_url

    # Only on the internal listener: MGX's public port does not serve the agent API at all.
    assert requests.get(f"{live.url}/internal/agent/dev", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 404
    assert requests.get(f"{base}/dev", timeout=10).status_code == 401
    assert requests.get(f"{base}/dev", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    state = requests.get(f"{base}/dev", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert state.status_code == 200 and state.json()["phase"] == "stopped"
    ran = requests.post(f"{base}/exec", headers={"Authorization": f"Bearer {token}"}, json={"command": "id"}, timeout=10)
    assert ran.status_code == 409 and "not running" in ran.json()["error"]  # no dev container: nothing runs, anywhere

    AgentRun.objects(run_id="live-run").update_one(set__status="done")  # a finished run's token is dead
    assert requests.get(f"{base}/dev", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401


def test_every_run_status_change_is_announced_to_the_app_page(live, app_factory, user_factory):
    from agents.services import run_cancel, run_finish

    owner = user_factory(username="watcher")
    app = app_factory(owner=owner, name="Status Watch")
    http = live.login("watcher", owner.raw_password)
    working = agent_run(session=app.slug, status="running")
    queued = agent_run(session=app.slug)
    with connect(f"{live.ws_url}/ws/apps/{app.slug}/", open_timeout=10,
                 additional_headers={"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}) as ws:
        run_finish(run_id=working.run_id, status="waiting", summary="Asked a question")
        run_cancel(app=app, user=owner, run_id=queued.run_id)
        seen = []
        while len(seen) < 2:
            frame = json.loads(ws.recv(timeout=10))
            if frame["kind"] == "run.status":
                seen.append(frame["data"])
    assert seen == [{"run": working.run_id, "status": "waiting", "error": ""},
                    {"run": queued.run_id, "status": "cancelled", "error": ""}]
