"""The agent team reads what the app did (read_logs, read_traces over the internal agent API,
with the run's token), and a scripted agent run produces MGX's own model-call spans with their
token counts, which MGX's receiver stores and the admin page lists."""
import time

import pytest
from django.test import Client

from agents.runner import run_agent
from agents.testing import ScriptedLLM, agent_run, reply
from observability import services
from observability.documents import MGX_APP, spans
from observability.selectors import spans_of

from .otlp_clients import log_exporter, make_logs, make_trace, span_exporter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def llm(settings, live):
    server = ScriptedLLM(host="127.0.0.1").start()
    settings.MGX_LLM_BASE_URL = server.base_url
    settings.MGX_AGENT_API_URL = live.internal_url + "/internal/agent"
    yield server
    server.stop()


def _poll(check, *, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    return check()


def test_qa_reads_the_failing_spans_and_logs_and_each_model_call_is_a_span(llm, live, app_factory, monkeypatch,
                                                                            user_factory):
    # The admin page lists every model call MGX made; earlier tests' agent runs (the journey's
    # scripted team) leave theirs in MGX's own telemetry, so this test starts from none.
    spans().delete_many({"app": MGX_APP})
    app = app_factory(name="Checkout", framework="nextjs")
    token = services.app_ingest_token(app=app)
    failing, trace_id = make_trace(app.slug, root="POST /api/checkout", error=True, children=("charge card",))
    span_exporter(live.url, token, app.slug).export(failing)
    log_exporter(live.url, token, app.slug).export(
        make_logs(app.slug, trace_spans=failing, records=[("ERROR", "card declined by the gateway")]))

    monkeypatch.setenv("MGX_APP_NAME", app.name)
    llm.add(
        reply(tool=("assign", {"role": "qa", "task": "Why does checkout fail?"}), usage=(1200, 40)),
        reply(tools=[("read_logs", {}), ("read_traces", {})], usage=(1500, 30)),
        reply("Checkout fails: the card is declined.", usage=(1800, 12)),
        reply(tool=("finish", {"summary": "Checkout fails at charge card"}), usage=(1900, 10)),
    )
    run = agent_run(session=app.slug, status="running", input="Why does checkout fail?")
    monkeypatch.setenv("MGX_AGENT_TOKEN", run.token)
    assert run_agent(session=app.slug, run_id=run.run_id) == 0
    logs_text, traces_text = [m["content"] for m in llm.tool_results(2)]
    assert "charge card" in logs_text and "boom: orders collection missing" in logs_text
    assert "card declined by the gateway" in logs_text and trace_id in logs_text
    assert "POST /api/checkout" in traces_text and "ERROR" in traces_text and "charge card" in traces_text
    assert "card declined by the gateway" in traces_text

    def model_spans():
        found = [s for s in spans_of(app=MGX_APP) if s["name"].startswith("chat ")]
        mine = [s for s in found if {"k": "mgx.run", "v": run.run_id} in s["attributes"]]
        return mine if len(mine) == 4 else None

    calls = _poll(model_spans)
    assert calls, "four model-call spans from MGX's own telemetry"
    tokens = sorted((dict((a["k"], a["v"]) for a in s["attributes"])["gen_ai.usage.input_tokens"],
                     dict((a["k"], a["v"]) for a in s["attributes"])["gen_ai.usage.output_tokens"]) for s in calls)
    assert tokens == [(1200, 40), (1500, 30), (1800, 12), (1900, 10)]
    assert all(s["service"] == "mgx" and s["duration_ms"] > 0 for s in calls)
    assert all({"k": "mgx.app", "v": app.slug} in s["attributes"] for s in calls)

    admin = user_factory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/telemetry/?q=chat").content.decode()
    assert "gen_ai.usage.input_tokens=1200" in page
    assert "Model calls listed: <strong>4</strong>, tokens in 6400, out 92." in page
    assert page.count(f"mgx.run={run.run_id}") == 4
    client.force_login(app.owner)
    assert client.get("/admin/telemetry/").status_code == 302  # not staff: to the admin's login
    spans().delete_many({"app": MGX_APP})
    services.telemetry_delete(slug=app.slug)


def test_mgxs_docker_calls_are_spans(live, app_factory, user_factory):
    """The live processes trace their calls to the Docker engine: the System panel's probe asks
    the engine in the web process."""
    admin = user_factory(username="root2", is_staff=True, is_superuser=True)
    http = live.login(admin.username, admin.raw_password)
    assert http.get(f"{live.url}/system-status/", timeout=30).status_code == 200

    def docker_spans():
        return [s for s in spans_of(app=MGX_APP) if s["name"].startswith("docker ")]

    found = _poll(docker_spans)
    assert found, "a span for the engine call"
    assert all("{id}" in s["name"] or "/" in s["name"] for s in found)
    spans().delete_many({"app": MGX_APP})
