"""The engine's MGX tools against the live stack: run_command, start_dev_server, fetch_preview and
read_logs go over HTTP to /internal/agent/* on the live Daphne's internal listener with the
run's own token, and from there into the app's real dev container."""
import time

import pytest

from agents.documents import AgentEvent
from agents.runner import run_agent
from agents.testing import ScriptedLLM, agent_run, reply
from deployments.models import DevEnvironment
from deployments.services import dev_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def llm(settings, live, bridge_address, agent_api_url):
    server = ScriptedLLM(host=bridge_address).start()  # where the agent container reaches this host
    settings.MGX_LLM_BASE_URL = server.base_url
    settings.MGX_AGENT_API_URL = agent_api_url
    yield server
    server.stop()


def token_run(monkeypatch, slug: str, *, text: str = "", resume: dict | None = None) -> str:
    """A run as run_execute makes it (its own token, stored only as a hash), its token where the
    runner reads it; the run's id."""
    run = agent_run(session=slug, status="running", input=text, resume=resume)
    monkeypatch.setenv("MGX_AGENT_TOKEN", run.token)
    return run.run_id


def last(slug: str) -> AgentEvent:
    return AgentEvent.objects(session=slug).order_by("-seq").first()


def test_without_a_dev_container_the_tools_report_mgxs_answer(llm, app_factory, monkeypatch):
    app = app_factory(name="No Dev", framework="nextjs")
    monkeypatch.setenv("MGX_APP_NAME", app.name)
    llm.add(
        reply(tool=("assign", {"role": "qa", "task": "Check the app."})),
        reply(tools=[("fetch_preview", {"path": "/"}), ("run_command", {"command": "id"})]),
        reply("The dev server is not running."),
        reply(tool=("finish", {"summary": "Dev server not running"})),
    )
    first = token_run(monkeypatch, app.slug, text="Check it")
    assert run_agent(session=app.slug, run_id=first) == 0
    asked = last(app.slug)
    assert asked.type == "INTERRUPT" and asked.payload["tool"] == "run_command"
    resumed = token_run(monkeypatch, app.slug, resume={"call_id": asked.payload["call_id"], "approved": True})
    assert run_agent(session=app.slug, run_id=resumed) == 0
    preview, ran = [m["content"] for m in llm.tool_results(2)]
    assert preview.startswith("Error: HTTP 0") and "not ready" in preview
    assert ran.startswith("Error: MGX answered 409") and "not running" in ran
    assert last(app.slug).payload["status"] == "done"


def test_qa_starts_the_dev_server_runs_a_command_and_fetches_the_preview(llm, runtime_image, app_factory, monkeypatch):
    app = app_factory(name="Agent Dev", framework="nextjs")
    monkeypatch.setenv("MGX_APP_NAME", app.name)
    monkeypatch.setenv("MGX_APP_FRAMEWORK", app.framework)
    llm.add(
        reply(tool=("assign", {"role": "qa", "task": "Start the dev server and check the home page."})),
        reply(tool=("start_dev_server", {})),
        reply(tool=("run_command", {"command": "cat /etc/hostname"})),
    )
    first = token_run(monkeypatch, app.slug, text="Check the app")
    try:
        _check_dev(llm, app, monkeypatch, first)
    finally:
        dev_stop(app=app)


def _check_dev(llm, app, monkeypatch, first):
    assert run_agent(session=app.slug, run_id=first) == 0
    assert llm.tool_results(2)[0]["content"] in ("creating: Queued", "installing: Queued")
    asked = last(app.slug)
    assert asked.type == "INTERRUPT" and asked.payload["args"] == {"command": "cat /etc/hostname"}

    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        dev = DevEnvironment.objects.filter(app=app).first()
        if dev and dev.phase in (DevEnvironment.Phase.READY, DevEnvironment.Phase.FAILED):
            break
        time.sleep(1)
    assert dev.phase == DevEnvironment.Phase.READY, dev.last_log

    # Approved with an edited command: it runs in the app's dev container, not on this host.
    llm.add(
        reply(tools=[("fetch_preview", {"path": "/"}), ("read_logs", {})]),
        reply("Home page answers 200."),
        reply(tool=("finish", {"summary": "The app runs"})),
    )
    resumed = token_run(monkeypatch, app.slug, resume={"call_id": asked.payload["call_id"], "approved": True,
                                                        "command": "pwd; cat package.json | head -3; "
                                                                   "echo made > made-by-command.txt"})
    assert run_agent(session=app.slug, run_id=resumed) == 0
    # What the command wrote shows as a file change, like the agent's own writes.
    changed = [e.payload for e in AgentEvent.objects(session=app.slug, run=resumed, type="FILE_CHANGED")]
    assert {"path": "made-by-command.txt", "action": "created"} in changed
    ran = llm.tool_results(3)[-1]["content"]
    assert ran.startswith("exit code 0") and "/workspace" in ran and '"name": "agent-dev"' in ran
    preview, logs = [m["content"] for m in llm.tool_results(4)[-2:]]
    assert preview.startswith("HTTP 200") and "Agent Dev" in preview
    assert logs and not logs.startswith("Error")
    assert last(app.slug).payload["status"] == "done"


def test_a_run_in_the_agent_container_writes_the_workspace_and_commits(llm, agent_image, app_factory, live):
    """The whole path: run_execute starts the agent image, whose `manage.py run_agent` talks to
    the scripted model on this host, writes the mounted workspace and commits."""
    from agents.services import run_execute
    from workspaces import git
    from workspaces.services import workspace_for

    app = app_factory(name="Boxed Agent", framework="fastapi_vite")
    llm.add(
        reply(tool=("assign", {"role": "engineer", "task": "Add a health note."})),
        reply(tool=("write_file", {"path": "docs/notes.md", "content": "Health: /api/health\n"})),
        reply("Added docs/notes.md."),
        reply(tool=("finish", {"summary": "Added a health note"})),
    )
    run_id = agent_run(session=app.slug, input="Add a note").run_id

    assert run_execute(run_id=run_id) == "done"
    evs = list(AgentEvent.objects(session=app.slug, run=run_id).order_by("seq"))
    assert [e.seq for e in evs] == list(range(evs[0].seq, evs[0].seq + len(evs)))
    finish = evs[-1]
    assert finish.type == "FINISH" and finish.payload["status"] == "done", [e.as_dict() for e in evs][-3:]
    root = workspace_for(app).root
    assert (root / "docs/notes.md").read_text() == "Health: /api/health\n"
    head = git.log(root, limit=1)[0]
    assert (head.sha, head.message, head.author) == (finish.payload["commit"], "Agent: Added a health note",
                                                     "MGX agent team")
    # The model was told the app's real name and framework, which came in through the environment.
    assert "Boxed Agent" in llm.requests[0]["messages"][0]["content"]
    assert "FastAPI" in llm.requests[0]["messages"][0]["content"]
