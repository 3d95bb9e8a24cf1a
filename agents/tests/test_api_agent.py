"""The agent team over HTTP, on the live stack: a script starts a run with a bearer token, follows
it as Server-Sent Events read with plain `requests`, reconnects with `Last-Event-ID`, reads the
task, answers approvals and cancels. The runs are real: the live Celery worker starts the agent
container, whose LangGraph team talks to the scripted model server over HTTP."""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time

import pytest
import requests
from websockets.sync.client import connect

from agents.documents import AgentEvent, AgentRun
from agents.testing import ScriptedLLM, agent_run, reply
from mgx_site.cli import procs

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
RUN_DEADLINE = 240  # seconds: an agent container start and a few model calls on a busy 2-core machine


# ---------------------------------------------------------------- the live worker, with a model

@pytest.fixture(scope="module")
def llm(live, bridge_address):
    """The scripted model, and the live Celery worker restarted to use it (the worker reads the
    model endpoint from its environment when it starts). The original worker comes back after."""
    server = ScriptedLLM(host=bridge_address).start()
    worker = live.stack["celery"]
    base = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test")
    base.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    procs.stop(live.layout, worker)
    procs.start(live.layout, worker, env={**base, "MGX_LLM_BASE_URL": server.base_url, "MGX_LLM_API_KEY": "test-key",
                                         "MGX_LLM_MODEL": "scripted-model", "MGX_LLM_PRICE_PROMPT": "0.5",
                                         "MGX_LLM_PRICE_COMPLETION": "1.5"})
    yield server
    procs.stop(live.layout, worker)
    procs.start(live.layout, worker, env=base)
    server.stop()


@pytest.fixture
def model(llm):
    """The module's model server with an empty script for this test."""
    with llm._lock:
        llm.script.clear()
        llm.requests.clear()
        llm._next = 0
    return llm


class Gate:
    """A model reply that waits until the test opens the gate: the run is mid-way for as long
    as the test needs, without sleeping."""

    def __init__(self, then):
        self.reached, self.opened, self.then = threading.Event(), threading.Event(), then

    def __call__(self, _body):
        self.reached.set()
        self.opened.wait(timeout=RUN_DEADLINE)
        return self.then


# ---------------------------------------------------------------- callers

def bearer(live, username, password=PASSWORD, **extra) -> str:
    got = requests.post(f"{live.url}/oauth2/token/", timeout=10, data={
        "grant_type": "password", "client_id": "mgx", "username": username, "password": password, **extra})
    assert got.status_code == 200, got.text
    return got.json()["access_token"]


class Api:
    def __init__(self, live, slug, token):
        self.base, self.headers = f"{live.url}/api/apps/{slug}/agent", {"Authorization": f"Bearer {token}"}

    def post(self, path, body=None):
        return requests.post(self.base + path, json=body, headers=self.headers, timeout=30)

    def get(self, path, headers=None, **kw):
        return requests.get(self.base + path, headers={**self.headers, **(headers or {})}, timeout=30, **kw)

    def task(self, run_id):
        got = self.get(f"/tasks/{run_id}")
        assert got.status_code == 200, got.text
        return got.json()

    def wait(self, run_id, *statuses):
        deadline = time.monotonic() + RUN_DEADLINE
        while time.monotonic() < deadline:
            found = self.task(run_id)
            if found["status"] in statuses:
                return found
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} never reached {statuses}: {found}")

    def stream(self, *, after=None, last_event_id=None):
        headers = dict(self.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        url = self.base + "/events" + (f"?after={after}" if after is not None else "")
        return requests.get(url, headers=headers, stream=True, timeout=(10, 60))


def sse_events(response):
    """Parse a text/event-stream as a client library would: blocks separated by a blank line,
    comments (`: ping`) skipped. Yields (id, event, data)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in fields:
                yield int(fields["id"]), fields["event"], json.loads(fields["data"])
            fields = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def read_until(response, stop, seen):
    for seq, kind, data in sse_events(response):
        seen.append((seq, kind, data))
        if stop(seq, kind, data):
            return
    raise AssertionError(f"the stream ended early after {[s for s, *_ in seen]}")


def stored(slug):
    return [e.as_dict() for e in AgentEvent.objects(session=slug).order_by("seq")]


@pytest.fixture
def owner(user_factory):
    return user_factory(username="scripter", password=PASSWORD)


# ---------------------------------------------------------------- a whole run over HTTP

def test_a_run_started_over_http_streams_replays_without_gap_and_reports_its_task(live, model, agent_image,
                                                                                  app_factory, owner):
    app = app_factory(owner=owner, name="Scripted App", framework="fastapi_vite")
    gate = Gate(reply("Added docs/notes.md with the health route."))
    model.add(
        reply(tool=("assign", {"role": "engineer", "task": "Add a health note."})),
        reply(tool=("write_file", {"path": "docs/notes.md", "content": "Health: /api/health\n"})),
        gate,
        reply(tool=("finish", {"summary": "Added a health note"})),
    )
    api = Api(live, app.slug, bearer(live, "scripter"))
    chat = live.login("scripter", PASSWORD)

    with connect(f"{live.ws_url}/ws/apps/{app.slug}/agent/?after=0", open_timeout=10,
                 additional_headers={"Cookie": f"sessionid={chat.cookies['sessionid']}", "Origin": live.url}) as ws:
        started = api.post("/generate", {"prompt": "  Add a note about the health route  "})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert started.json()["status"] == "queued"

        # A script follows the run, then goes away mid-run (the model is held at the gate).
        first: list = []
        with api.stream(after=0) as stream:
            assert stream.status_code == 200
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            read_until(stream, lambda s, kind, d: kind == "FILE_CHANGED", first)
        assert gate.reached.wait(RUN_DEADLINE)
        gate.opened.set()
        done = api.wait(run_id, "done", "failed")

        # It comes back with the last id it saw: the rest, from exactly there.
        second: list = []
        with api.stream(after=0, last_event_id=first[-1][0]) as stream:
            read_until(stream, lambda s, kind, d: kind == "FINISH", second)

        chat_events = []
        while not chat_events or chat_events[-1]["type"] != "FINISH":
            chat_events.append(json.loads(ws.recv(timeout=30))["data"])

    everything = stored(app.slug)
    assert [s for s, *_ in first + second] == [e["seq"] for e in everything]  # no gap, no duplicate
    assert [d for *_, d in first + second] == everything == chat_events  # the chat's events, in its order
    assert all(kind == d["type"] and seq == d["seq"] for seq, kind, d in first + second)
    assert everything[0]["type"] == "USER_MESSAGE" and everything[0]["payload"]["text"] == "Add a note about the health route"

    assert done["status"] == "done" and done["outcome"] == "done", done
    assert done["changed_files"] == [{"path": "docs/notes.md", "action": "created"}]
    assert done["last_message"] == "Added a health note"  # the leader's closing words
    usage = done["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["cost"] > 0
    assert done["interrupt"] is None
    # Both times are UTC, with their offset, and the run finished after it was made.
    created, finished = (dt.datetime.fromisoformat(done[k].replace("Z", "+00:00")) for k in ("created_at", "finished_at"))
    assert created.utcoffset() == finished.utcoffset() == dt.timedelta(0) and created <= finished
    assert done["summary"] == "Added a health note" and done["commit"]
    assert done["input"] == "Add a note about the health route"


def test_approve_and_reject_over_http_resume_the_team_as_the_chat_does(live, model, agent_image, app_factory, owner):
    from workspaces.services import workspace_for

    app = app_factory(owner=owner, name="Decided App", framework="fastapi_vite")
    root = workspace_for(app).root
    model.add(
        reply(tool=("assign", {"role": "engineer", "task": "Remove the README, then clean up."})),
        reply(tool=("delete_file", {"path": "README.md"})),
        reply("README removed.", tool=("run_command", {"command": "rm -rf node_modules"})),
        reply("Understood, I left node_modules alone."),
        reply(tool=("finish", {"summary": "Removed the README"})),
    )
    api = Api(live, app.slug, bearer(live, "scripter"))
    first = api.post("/generate", {"prompt": "Remove the README"}).json()["run_id"]

    asked = api.wait(first, "waiting", "failed", "done")
    assert asked["status"] == "waiting", asked
    assert (asked["interrupt"]["tool"], asked["interrupt"]["kind"], asked["interrupt"]["args"]) == (
        "delete_file", "approval", {"path": "README.md"})
    assert (root / "README.md").exists()  # nothing happens before the user says so

    busy = api.post("/generate", {"prompt": "something else"})
    assert busy.status_code == 409 and "waiting for your answer" in busy.json()["error"]["message"]
    edit = api.post(f"/runs/{first}/resume", {"decision": "edit", "command": "rm README.md"})
    assert edit.status_code == 409 and "Only a command can be edited" in edit.json()["error"]["message"]
    wrong = api.post(f"/runs/{first}/resume", {"decision": "maybe"})
    assert wrong.status_code == 422 and "decision" in wrong.json()["error"]["fields"]

    approved = api.post(f"/runs/{first}/resume", {"decision": "approve"})
    assert approved.status_code == 202, approved.text
    again = api.post(f"/runs/{first}/resume", {"decision": "approve"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    second = api.wait(approved.json()["run_id"], "waiting", "failed", "done")
    assert second["status"] == "waiting", second
    assert {"path": "README.md", "action": "deleted"} in second["changed_files"]
    assert not (root / "README.md").exists()
    assert second["interrupt"]["args"] == {"command": "rm -rf node_modules"}
    assert second["resume"]["approved"] is True

    rejected = api.post(f"/runs/{second['run_id']}/resume", {"decision": "reject"})
    assert rejected.status_code == 202, rejected.text
    third = api.wait(rejected.json()["run_id"], "done", "failed")
    assert third["status"] == "done" and third["last_message"] == "Removed the README"
    refused = [e for e in AgentEvent.objects(session=app.slug, run=third["run_id"], type="TOOL_END")]
    assert refused[0].payload["ok"] is False and refused[0].payload["output"] == "The user rejected this action"
    said = [e.payload["text"] for e in AgentEvent.objects(session=app.slug, type="USER_MESSAGE").order_by("seq")]
    assert said == ["Remove the README", "Approved", "Rejected"]  # the chat shows the decisions as it does its own


def test_cancel_over_http_stops_a_running_run_and_kills_its_container(live, model, agent_image, app_factory, owner):
    import docker

    app = app_factory(owner=owner, name="Stopped App", framework="fastapi_vite")
    gate = Gate(reply("never used"))
    model.add(reply(tool=("assign", {"role": "engineer", "task": "Look around."})), gate)
    api = Api(live, app.slug, bearer(live, "scripter"))
    run_id = api.post("/generate", {"prompt": "Look around"}).json()["run_id"]
    try:
        assert gate.reached.wait(RUN_DEADLINE), "the run never reached the model"
        assert api.task(run_id)["status"] == "running"

        stopped = api.post(f"/runs/{run_id}/cancel")
        assert stopped.status_code == 200 and stopped.json() == {"run_id": run_id, "status": "cancelled"}
        engine = docker.from_env()
        deadline = time.monotonic() + 60
        while engine.containers.list(filters={"label": f"mgx.run={run_id}"}) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not engine.containers.list(filters={"label": f"mgx.run={run_id}"})
        task = api.task(run_id)
        assert task["status"] == "cancelled" and task["outcome"] == "cancelled" and task["finished_at"]
        assert api.post(f"/runs/{run_id}/cancel").status_code == 409
        # The next message is accepted: nothing is left running.
        model.add(reply(tool=("finish", {"summary": "Nothing to do"})))
        assert api.post("/generate", {"prompt": "Never mind"}).status_code == 202
    finally:
        gate.opened.set()


# ---------------------------------------------------------------- input and refusals (no runs)

def test_an_empty_prompt_is_refused_with_the_field_named_and_starts_nothing(live, app_factory, owner):
    app = app_factory(owner=owner, name="Empty Prompt")
    api = Api(live, app.slug, bearer(live, "scripter"))
    for body in ({"prompt": "   "}, {}, {"prompt": 12}):
        got = api.post("/generate", body)
        assert got.status_code == 422 and "prompt" in got.json()["error"]["fields"], (body, got.text)
    bad = api.get("/events", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["error"]["fields"]
    assert AgentRun.objects(session=app.slug).count() == 0 and AgentEvent.objects(session=app.slug).count() == 0


def test_a_run_already_active_is_a_409_that_says_so(live, app_factory, owner):
    app = app_factory(owner=owner, name="Busy App")
    agent_run(session=app.slug, status="running", run_id="r-active")
    api = Api(live, app.slug, bearer(live, "scripter"))
    got = api.post("/generate", {"prompt": "and another thing"})
    assert got.status_code == 409 and "still working" in got.json()["error"]["message"]
    assert api.post("/runs/nope/resume", {"decision": "approve"}).status_code == 409
    assert api.get("/tasks/nope").status_code == 404


def test_edit_approves_another_command_and_a_question_needs_an_answer(live, app_factory, owner):
    app = app_factory(owner=owner, name="Edited Command")
    api = Api(live, app.slug, bearer(live, "scripter"))
    for run_id, payload in (("r-cmd", {"call_id": "c1", "tool": "run_command", "args": {"command": "rm -rf /"},
                                       "kind": "approval"}),
                            ("r-ask", {"call_id": "c2", "tool": "ask_user", "args": {"question": "Colour?"},
                                       "kind": "question"})):
        agent_run(session=app.slug, status="waiting", run_id=run_id)
        AgentEvent(session=app.slug, seq=len(run_id) + (0 if run_id == "r-cmd" else 100), type="INTERRUPT",
                   run=run_id, payload=payload).save()

    assert api.post("/runs/r-cmd/resume", {"decision": "edit"}).json()["error"]["fields"] == {
        "command": ["An edit needs the command to run instead."]}
    assert api.post("/runs/r-cmd/resume", {"decision": "approve", "command": "ls"}).status_code == 422
    assert api.post("/runs/r-ask/resume", {"decision": "approve"}).json()["error"]["fields"] == {
        "answer": ["The team asked a question: give an answer."]}
    edited = api.post("/runs/r-cmd/resume", {"decision": "edit", "command": " ls -la "})
    assert edited.status_code == 202, edited.text
    api.post(f"/runs/{edited.json()['run_id']}/cancel")  # no model here: the resumed run need not go on
    assert AgentRun.objects(run_id=edited.json()["run_id"]).first().resume == {
        "call_id": "c1", "approved": True, "command": "ls -la"}
    answered = api.post("/runs/r-ask/resume", {"decision": "approve", "answer": "Green"})
    assert answered.status_code == 202, answered.text
    api.post(f"/runs/{answered.json()['run_id']}/cancel")
    assert AgentRun.objects(run_id=answered.json()["run_id"]).first().resume == {
        "call_id": "c2", "approved": True, "answer": "Green"}


def test_strangers_anonymous_app_tokens_and_read_only_tokens_are_refused_everywhere(live, app_factory, owner,
                                                                                  user_factory):
    from accounts import services as accounts
    from accounts.provider import token_request

    app = app_factory(owner=owner, name="Private Team")
    agent_run(session=app.slug, status="waiting", run_id="r-waiting")
    AgentEvent(session=app.slug, seq=1, type="INTERRUPT", run="r-waiting",
               payload={"call_id": "c1", "tool": "delete_file", "args": {"path": "README.md"},
                        "kind": "approval"}).save()
    user_factory(username="eve", password=PASSWORD)
    client = accounts.app_client_register(app=app).application
    _member, member_password = accounts.app_member_create(app=app, username="bob")
    code, body = token_request({"grant_type": "password", "client_id": client.client_id,
                                "client_secret": client.client_secret, "username": "bob",
                                "password": member_password}, address="192.0.2.7")
    assert code == 200, body

    calls = [("POST", "/generate", {"prompt": "delete everything"}), ("GET", "/tasks/r-waiting", None),
             ("GET", "/events?after=0", None), ("POST", "/runs/r-waiting/resume", {"decision": "approve"}),
             ("POST", "/runs/r-waiting/cancel", None)]
    callers = {"anonymous": (None, 401), "another user": (bearer(live, "eve"), 404),
               "an app's token": (body["access_token"], 401)}
    base = f"{live.url}/api/apps/{app.slug}/agent"
    failures = []
    for who, (token, expected) in callers.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method, path, payload in calls:
            got = requests.request(method, base + path, json=payload, headers=headers, timeout=10, stream=True)
            if got.status_code != expected or not got.headers["Content-Type"].startswith("application/json"):
                failures.append(f"{who}: {method} {path} answered {got.status_code}")
            got.close()
    # A token without the write scope reads but does not act.
    read_only = {"Authorization": f"Bearer {bearer(live, 'scripter', scope='read')}"}
    assert requests.get(f"{base}/tasks/r-waiting", headers=read_only, timeout=10).status_code == 200
    for method, path, payload in calls:
        if method == "POST":
            got = requests.post(base + path, json=payload, headers=read_only, timeout=10)
            if got.status_code != 403:
                failures.append(f"read-only token: POST {path} answered {got.status_code}")
    # The owner's browser session acts only with the CSRF token, as every cookie-authenticated write.
    browser = live.login("scripter", PASSWORD)
    forged = browser.post(f"{base}/generate", json={"prompt": "delete everything"}, headers={"Origin": live.url},
                          timeout=10)
    if forged.status_code != 403:
        failures.append(f"session without CSRF token: POST /generate answered {forged.status_code}")
    assert not failures, "\n".join(failures)
    # Nothing changed: the run still waits, no run was started, nothing was said.
    assert [r.status for r in AgentRun.objects(session=app.slug)] == ["waiting"]
    assert AgentEvent.objects(session=app.slug).count() == 1


def test_the_openapi_document_describes_the_agent_endpoints(live):
    doc = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    paths = {p: set(ops) for p, ops in doc["paths"].items() if "/agent/" in p}
    assert paths == {
        "/api/apps/{slug}/agent/generate": {"post"},
        "/api/apps/{slug}/agent/fix": {"post"},
        "/api/apps/{slug}/agent/tasks/{run_id}": {"get"},
        "/api/apps/{slug}/agent/events": {"get"},
        "/api/apps/{slug}/agent/runs/{run_id}/resume": {"post"},
        "/api/apps/{slug}/agent/runs/{run_id}/cancel": {"post"},
    }
    events = doc["paths"]["/api/apps/{slug}/agent/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"] and events["tags"] == ["agent"]
    generate = doc["paths"]["/api/apps/{slug}/agent/generate"]["post"]
    assert set(generate["responses"]) == {"202", "404", "409", "422"} and generate["security"]


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("Threads:")).split()[1])


def test_many_open_streams_hold_no_thread_each_and_end_when_the_client_goes(live, app_factory, owner):
    import redis
    from django.conf import settings

    app = app_factory(owner=owner, name="Many Viewers")
    api = Api(live, app.slug, bearer(live, "scripter"))
    daphne = procs.running_pid(live.layout, live.stack["daphne"])
    # One line iterator per stream, kept: a dropped requests iterator closes its connection.
    warm = api.stream()
    warm_lines = warm.iter_lines()
    assert next(warm_lines) == b"retry: 2000"  # the stream is being served
    before = _threads(daphne)
    viewers = []
    members, group = redis.Redis.from_url(settings.MGX_REDIS_URL), f"asgi:group:app.{app.slug}"
    assert members.zcard(group) == 1
    try:
        for _ in range(12):
            viewers.append(api.stream())
            viewers[-1].lines = viewers[-1].iter_lines()
            assert next(viewers[-1].lines) == b"retry: 2000"
        during = _threads(daphne)
        assert members.zcard(group) == 13  # all of them still listening
    finally:
        for viewer in viewers:
            viewer.close()
        warm.close()
    assert during - before < 4, f"{during - before} more threads for 12 more viewers"
    # Each stream leaves the app's channel-layer group when its client goes.
    deadline = time.monotonic() + 20
    while members.zcard(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert members.zcard(group) == 0


def test_the_stream_pings_when_idle_and_reads_a_lost_publish_from_the_store(app_factory, owner):
    """The stream itself, on the real Redis channel layer and event store, with a short heartbeat."""
    import asyncio

    from agents.services import event_append
    from agents.sse import event_stream

    app = app_factory(owner=owner, name="Quiet Stream")
    event_append(session=app.slug, type="USER_MESSAGE", payload={"text": "hello", "user": "scripter"})

    async def scenario():
        stream = event_stream(session=app.slug, after=0, heartbeat=0.3)
        try:
            assert await anext(stream) == "retry: 2000\n\n"
            assert (await anext(stream)).startswith("id: 1\nevent: USER_MESSAGE\ndata: {")
            assert await anext(stream) == ": ping\n\n"  # nothing happens: the proxy still sees bytes
            # Seq 2 is stored but its publish is lost; seq 3 arrives live: 2 comes from the store first.
            await asyncio.to_thread(event_append, session=app.slug, type="AGENT_START", payload={"role": "qa"},
                                    publish=False)
            await asyncio.to_thread(event_append, session=app.slug, type="AGENT_START", payload={"role": "engineer"})
            got = [await anext(stream) for _ in range(2)]
            while got[-1] == ": ping\n\n":
                got[-1] = await anext(stream)
            return got
        finally:
            await stream.aclose()

    second, third = asyncio.run(scenario())
    assert second.startswith("id: 2\nevent: AGENT_START\n") and '"role":"qa"' in second
    assert third.startswith("id: 3\nevent: AGENT_START\n") and '"role":"engineer"' in third
