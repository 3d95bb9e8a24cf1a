"""The agent engine: the real LangGraph team, talking real HTTP (langchain-openai) to a scripted
OpenAI-compatible server, recording everything (events, usage, status, checkpoints, commits)
through the internal agent API of the live Daphne, writing real workspaces."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from agents import runner
from agents.documents import AgentEvent, AgentRun, UsageRecord
from agents.runner import workspace_of
from agents.selectors import usage_for_session
from agents.testing import ScriptedLLM, agent_run, reply
from workspaces import git

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
TOKENS: dict[str, str] = {}  # run id → its token, as run_execute hands it to the container


@pytest.fixture(autouse=True)
def internal_api(settings, agent_api_url):
    settings.MGX_AGENT_API_URL = agent_api_url
    yield
    TOKENS.clear()


def run_agent(*, session: str, run_id: str) -> int:
    """The runner in this process, with the run's own token, as the container runs it."""
    return runner.run_agent(session=session, run_id=run_id, token=TOKENS[run_id])


@pytest.fixture
def llm(settings, bridge_address):
    server = ScriptedLLM(host=bridge_address).start()
    settings.MGX_LLM_BASE_URL = server.base_url
    settings.MGX_LLM_API_KEY = "test-key"
    settings.MGX_LLM_MODEL = "scripted-model"
    settings.MGX_LLM_PRICE_PROMPT = 0.5
    settings.MGX_LLM_PRICE_COMPLETION = 1.5
    yield server
    server.stop()


@pytest.fixture
def app(app_factory, monkeypatch):
    made = app_factory(name="Todo App", framework="nextjs")
    monkeypatch.setenv("MGX_APP_NAME", made.name)
    monkeypatch.setenv("MGX_APP_FRAMEWORK", made.framework)
    return made


def new_run(slug: str, text: str = "", resume: dict | None = None) -> str:
    """A run as run_execute hands it to its container (running, with its own token); its id."""
    run = agent_run(session=slug, status="running", input=text, resume=resume)
    TOKENS[run.run_id] = run.token
    return run.run_id


def events(slug: str, run_id: str | None = None) -> list[AgentEvent]:
    found = AgentEvent.objects(session=slug).order_by("seq")
    return [e for e in found if run_id is None or e.run == run_id]


def of_type(evs, type_):
    return [e.payload for e in evs if e.type == type_]


def chat_text(evs, role=None) -> str:
    return "".join(p["text"] for p in of_type(evs, "MESSAGE_DELTA") if role is None or p["role"] == role)


def run_in_subprocess(slug: str, run_id: str, llm: ScriptedLLM, **extra_env) -> subprocess.CompletedProcess:
    """`manage.py run_agent` in its own process, as the agent container runs it, with database
    addresses that cannot be opened: the runner needs none, only the internal API."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test", MGX_LLM_BASE_URL=llm.base_url,
               MGX_LLM_API_KEY="test-key", MGX_LLM_MODEL="scripted-model",
               MGX_WORKSPACE_ROOT=str(django_settings.MGX_WORKSPACE_ROOT),
               MGX_AGENT_API_URL=django_settings.MGX_AGENT_API_URL, MGX_AGENT_TOKEN=TOKENS[run_id],
               MGX_MONGO_URL="mongodb://127.0.0.1:9/none", MGX_REDIS_URL="redis://127.0.0.1:9/0",
               DATABASE_URL="sqlite:////nonexistent-mgx-dir/never.sqlite3", **extra_env)
    return subprocess.run([sys.executable, "manage.py", "run_agent", "--session", slug, "--run", run_id],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


TODOS_MODULE = """export function addTodo(todos, title) {
  const text = String(title || '').trim();
  if (!text) throw new Error('A todo needs a title');
  return [...todos, { id: todos.length + 1, title: text, done: false }];
}

export function toggleTodo(todos, id) {
  return todos.map((t) => (t.id === id ? { ...t, done: !t.done } : t));
}
"""

TODOS_TEST = """import test from 'node:test';
import assert from 'node:assert/strict';
import { addTodo, toggleTodo } from './todos.mjs';

test('adds a todo', () => {
  const todos = addTodo([], '  Buy milk ');
  assert.deepEqual(todos, [{ id: 1, title: 'Buy milk', done: false }]);
});

test('toggles a todo', () => {
  assert.equal(toggleTodo(addTodo([], 'x'), 1)[0].done, true);
});

test('refuses an empty title', () => {
  assert.throws(() => addTodo([], ' '), /needs a title/);
});
"""


def test_a_full_run_pm_architect_engineer_writes_code_whose_own_tests_pass(llm, app):
    llm.add(
        reply("I'll get the requirements written first.",
              tool=("assign", {"role": "product_manager", "task": "Write the PRD for a todo list."})),
        reply(tool=("write_file", {"path": "docs/prd.md", "content": "# PRD\n\n- Add todos\n- Toggle them\n"})),
        reply("PRD is in docs/prd.md."),
        reply(tool=("assign", {"role": "architect", "task": "Design it."})),
        reply(tool=("write_file", {"path": "docs/design.md",
                                   "content": "# Design\n\nFiles:\n- lib/todos.mjs\n- lib/todos.test.mjs\n"})),
        reply("Design is in docs/design.md."),
        reply(tool=("assign", {"role": "engineer", "task": "Implement lib/todos.mjs with tests."})),
        reply(tools=[("write_file", {"path": "lib/todos.mjs", "content": TODOS_MODULE}),
                     ("write_file", {"path": "lib/todos.test.mjs", "content": TODOS_TEST})]),
        reply("Wrote lib/todos.mjs and its tests."),
        reply("All done.", tool=("finish", {"summary": "Todo logic with tests"})),
    )
    run_id = new_run(app.slug, "Build me a todo list")

    assert run_agent(session=app.slug, run_id=run_id) == 0

    evs = events(app.slug)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))  # no gap, no duplicate
    assert [p["role"] for p in of_type(evs, "AGENT_START")] == [
        "team_leader", "product_manager", "team_leader", "architect", "team_leader", "engineer", "team_leader"]
    assert of_type(evs, "FILE_CHANGED") == [
        {"path": "docs/prd.md", "action": "created"}, {"path": "docs/design.md", "action": "created"},
        {"path": "lib/todos.mjs", "action": "created"}, {"path": "lib/todos.test.mjs", "action": "created"}]
    # The leader's text arrived as a stream of pieces of one message.
    leader_deltas = [p for p in of_type(evs, "MESSAGE_DELTA") if p["role"] == "team_leader"]
    assert len({p["message_id"] for p in leader_deltas[:2]}) == 1 and len(leader_deltas) >= 2
    assert "I'll get the requirements written first." in chat_text(evs, "team_leader")
    starts, ends = of_type(evs, "TOOL_START"), of_type(evs, "TOOL_END")
    assert [s["call_id"] for s in starts] == [e["call_id"] for e in ends] and all(e["ok"] for e in ends)

    finish = evs[-1]
    assert finish.type == "FINISH"
    assert finish.payload["status"] == "done" and finish.payload["summary"] == "Todo logic with tests"
    ws = workspace_of(app.slug)
    head = git.log(ws.root, limit=1)[0]
    assert finish.payload["commit"] == head.sha
    assert head.message == "Agent: Todo logic with tests" and head.author == "MGX agent team"
    assert AgentRun.objects(run_id=run_id).first().status == "done"

    # What each role was sent: its own brief, and the results of its tools.
    pm_first = llm.requests[1]
    assert "product manager" in pm_first["messages"][0]["content"].lower()
    assert "Write the PRD for a todo list." in pm_first["messages"][1]["content"]
    assert {t["function"]["name"] for t in pm_first["tools"]} >= {"write_file", "read_file"}
    assert "run_command" not in {t["function"]["name"] for t in pm_first["tools"]}
    assert llm.tool_results(2)[0]["content"].startswith("Created docs/prd.md")
    assert "Report from the product manager:\nPRD is in docs/prd.md." in [m["content"] for m in llm.tool_results(3)]

    # Usage: one record per model call, summed on the run and per app, cost from the prices.
    usage = of_type(evs, "USAGE")
    assert len(usage) == 10 == UsageRecord.objects(run=run_id).count()
    run = AgentRun.objects(run_id=run_id).first()
    assert run.prompt_tokens == sum(u["prompt_tokens"] for u in usage) > 0
    assert run.completion_tokens == sum(u["completion_tokens"] for u in usage) > 0
    assert run.cost == pytest.approx(run.prompt_tokens / 1000 * 0.5 + run.completion_tokens / 1000 * 1.5)
    assert usage_for_session(session=app.slug)["calls"] == 10

    # The written code passes its own tests, run as the template's tooling would (.ci/run
    # makes sure Node.js is on the machine).
    done = subprocess.run(["node", "--test", "lib/"], cwd=ws.root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 3" in done.stdout


def test_interrupts_are_approved_and_rejected_and_resume_in_new_processes(llm, app):
    llm.add(
        reply(tool=("assign", {"role": "engineer", "task": "Remove the README, then clean up."})),
        reply(tool=("delete_file", {"path": "README.md"})),
        reply("README removed.", tool=("run_command", {"command": "rm -rf node_modules"})),
        reply("Understood, I left node_modules alone."),
        reply(tool=("finish", {"summary": "Removed the README"})),
    )
    ws = workspace_of(app.slug)
    first = new_run(app.slug, "Remove the README")

    assert run_agent(session=app.slug, run_id=first) == 0
    asked = events(app.slug, first)[-1]
    assert asked.type == "INTERRUPT"
    assert (asked.payload["tool"], asked.payload["kind"], asked.payload["args"]) == (
        "delete_file", "approval", {"path": "README.md"})
    assert AgentRun.objects(run_id=first).first().status == "waiting"
    assert (ws.root / "README.md").exists()  # nothing happens before the user says so

    # The user approves; a new process picks the run up from the MongoDB checkpoint.
    approve = new_run(app.slug, resume={"call_id": asked.payload["call_id"], "approved": True})
    done = run_in_subprocess(app.slug, approve, llm)
    assert done.returncode == 0, done.stderr
    evs = events(app.slug, approve)
    assert {"path": "README.md", "action": "deleted"} in of_type(evs, "FILE_CHANGED")
    assert not (ws.root / "README.md").exists()
    asked_again = evs[-1]
    assert asked_again.type == "INTERRUPT" and asked_again.payload["args"] == {"command": "rm -rf node_modules"}
    assert asked_again.payload["commit"] == git.log(ws.root, limit=1)[0].sha  # paused runs commit too
    patch = git.show(ws.root, asked_again.payload["commit"])[1]
    assert "diff --git a/README.md b/README.md\ndeleted file mode" in patch

    # This one is rejected: the model is told so, and nothing runs.
    reject = new_run(app.slug, resume={"call_id": asked_again.payload["call_id"], "approved": False})
    done = run_in_subprocess(app.slug, reject, llm)
    assert done.returncode == 0, done.stderr
    told = [m["content"] for m in llm.tool_results(3)]
    assert told[-1] == "The user rejected this action"
    evs = events(app.slug, reject)
    assert of_type(evs, "TOOL_END")[0] == {"role": "engineer", "tool": "run_command",
                                           "call_id": asked_again.payload["call_id"], "ok": False,
                                           "output": "The user rejected this action"}
    assert evs[-1].type == "FINISH" and evs[-1].payload["status"] == "done"
    all_evs = events(app.slug)
    assert [e.seq for e in all_evs] == list(range(1, len(all_evs) + 1))
    assert llm.remaining == 0


def test_a_resume_with_an_edited_command_runs_the_edited_command(llm, app):
    llm.add(
        reply(tool=("assign", {"role": "engineer", "task": "Run the tests."})),
        reply(tool=("run_command", {"command": "npm test"})),
        reply("The runner is not reachable here."),
        reply("Could not run the tests."),
    )
    first = new_run(app.slug, "Run the tests")
    assert run_agent(session=app.slug, run_id=first) == 0
    asked = events(app.slug, first)[-1].payload
    resumed = new_run(app.slug, resume={"call_id": asked["call_id"], "approved": True, "command": "npm test -- --ci"})
    assert run_agent(session=app.slug, run_id=resumed) == 0
    start = of_type(events(app.slug, resumed), "TOOL_START")[0]
    assert start["args"]["command"] == "npm test -- --ci"
    # No dev container in this test: MGX says so instead of running anything anywhere.
    told = llm.tool_results(2)[-1]["content"]
    assert told.startswith("Error: MGX answered 409") and "not running" in told


def test_writing_a_file_the_user_changed_since_the_agent_read_it_asks_first(llm, app):
    ws = workspace_of(app.slug)

    def user_edits_then_agent_writes(_body):
        ws.write("app/page.tsx", b"export default function Page() { return <p>mine</p>; }\n")
        return reply(tool=("write_file", {"path": "app/page.tsx", "content": "agent version\n"}))

    llm.add(
        reply(tool=("assign", {"role": "engineer", "task": "Change the home page."})),
        reply(tool=("read_file", {"path": "app/page.tsx"})),
        reply(tool=("edit_file", {"path": "app/page.tsx", "old_text": "export default", "new_text": "export  default"})),
        user_edits_then_agent_writes,
    )
    run_id = new_run(app.slug, "Change the home page")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    # Its own read made the edit safe; the user's later edit makes the overwrite wait.
    assert of_type(evs, "FILE_CHANGED") == [{"path": "app/page.tsx", "action": "edited"}]
    asked = evs[-1]
    assert asked.type == "INTERRUPT" and asked.payload["tool"] == "write_file"
    assert "changed since" in asked.payload["reason"]
    assert "mine" in (ws.root / "app/page.tsx").read_text()


def test_overwriting_a_file_the_agent_never_read_asks_first(llm, app):
    llm.add(reply(tool=("assign", {"role": "engineer", "task": "Rewrite README.md"})),
            reply(tool=("write_file", {"path": "README.md", "content": "gone\n"})))
    run_id = new_run(app.slug, "Rewrite the readme")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    asked = events(app.slug, run_id)[-1]
    assert asked.type == "INTERRUPT" and "has not read" in asked.payload["reason"]
    assert (workspace_of(app.slug).root / "README.md").read_text() != "gone\n"


def test_the_run_budget_stops_a_run_with_an_explanation(llm, app, settings):
    settings.MGX_AGENT_RUN_TOKEN_BUDGET = 100
    llm.add(reply(tool=("list_files", {"path": ""}), usage=(90, 20)), reply("never sent"))
    run_id = new_run(app.slug, "Look around")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    assert evs[-1].type == "FINISH" and evs[-1].payload["status"] == "budget"
    assert "110 tokens" in chat_text(evs, "team_leader") and "MGX_AGENT_RUN_TOKEN_BUDGET" in chat_text(evs)
    assert len(llm.requests) == 1


def test_the_app_budget_counts_earlier_runs(llm, app, settings):
    settings.MGX_AGENT_APP_TOKEN_BUDGET = 1000
    UsageRecord(session=app.slug, run="earlier", role="engineer", prompt_tokens=700, completion_tokens=400).save()
    run_id = new_run(app.slug, "More work")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    assert evs[-1].payload["status"] == "budget" and "1,100 tokens in total" in chat_text(evs)
    assert llm.requests == []  # not one model call over budget


def test_the_step_limit_stops_a_run(llm, app, settings):
    settings.MGX_AGENT_MAX_STEPS = 3
    llm.add(reply(tool=("list_files", {"path": ""})))
    llm.repeat_last = True
    run_id = new_run(app.slug, "Keep looking")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    assert evs[-1].payload["status"] == "steps" and "3 model calls" in chat_text(evs)
    assert len(llm.requests) == 3


def test_the_loop_guard_stops_the_same_failing_call(llm, app, settings):
    settings.MGX_AGENT_LOOP_LIMIT = 3
    llm.add(reply(tool=("read_file", {"path": "missing.txt"})))
    llm.repeat_last = True
    run_id = new_run(app.slug, "Read it")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    assert evs[-1].payload["status"] == "loop"
    assert "read_file" in chat_text(evs) and "No file 'missing.txt'" in chat_text(evs)
    assert len(llm.requests) == 3
    assert [e["ok"] for e in of_type(evs, "TOOL_END")] == [False, False, False]


def test_without_a_model_the_team_says_so_and_pretends_nothing(app, settings):
    settings.MGX_LLM_BASE_URL = ""
    before = git.log(workspace_of(app.slug).root)
    run_id = new_run(app.slug, "Build a todo list")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    evs = events(app.slug, run_id)
    assert [e.type for e in evs] == ["AGENT_START", "MESSAGE_DELTA", "FINISH"]
    text = evs[1].payload["text"]
    assert evs[1].payload["role"] == "team_leader"
    assert "No language model is configured" in text and "MGX_LLM_BASE_URL" in text
    assert "Next.js" in text and "Todo App" in text
    assert evs[2].payload == {"status": "no_llm", "summary": text, "commit": ""}
    assert git.log(workspace_of(app.slug).root) == before  # the template stays as it was


def test_a_later_run_continues_the_conversation(llm, app):
    llm.add(reply("Hello! What should we build?"), reply("A todo list, noted."))
    assert run_agent(session=app.slug, run_id=new_run(app.slug, "Hi")) == 0
    assert run_agent(session=app.slug, run_id=new_run(app.slug, "A todo list")) == 0
    sent = [(m["role"], m["content"]) for m in llm.requests[1]["messages"][1:]]
    assert sent == [("user", "Hi"), ("assistant", "Hello! What should we build?"), ("user", "A todo list")]


def test_a_new_message_while_an_action_waits_starts_over_cleanly(llm, app):
    llm.add(reply(tool=("assign", {"role": "engineer", "task": "Install"})),
            reply(tool=("run_command", {"command": "npm install"})),
            reply("Sure, forget the install."))
    assert run_agent(session=app.slug, run_id=new_run(app.slug, "Install things")) == 0
    run_id = new_run(app.slug, "Never mind")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    assert events(app.slug, run_id)[-1].payload["status"] == "done"
    # The unanswered calls were closed for the model, so the endpoint accepted the history.
    tool_msgs = llm.tool_results(2)
    assert tool_msgs and all("Not done" in m["content"] or "Report" in m["content"] for m in tool_msgs)


def test_the_agent_cannot_reach_outside_its_workspace(llm, app, app_factory):
    other = app_factory(name="Other App", framework="nextjs")
    other_root = workspace_of(other.slug).root
    before, history = tree_digest(other_root), git.log(other_root)
    ws = workspace_of(app.slug)
    (ws.root / "sneaky").symlink_to(other_root)
    attempts = [
        ("write_file", {"path": f"../{other.slug}/app/page.tsx", "content": "owned"}),
        ("read_file", {"path": f"../{other.slug}/package.json"}),
        ("read_file", {"path": "sneaky/package.json"}),
        ("write_file", {"path": "sneaky/evil.txt", "content": "owned"}),
        ("write_file", {"path": str(other_root / "evil.txt"), "content": "owned"}),
        ("list_files", {"path": ".."}),
        ("search", {"pattern": "name", "path": f"../{other.slug}"}),
        ("edit_file", {"path": ".git/config", "old_text": "[core]", "new_text": "[core]\n\thooksPath = x"}),
    ]
    llm.add(reply(tool=("assign", {"role": "engineer", "task": "Copy the other app"})),
            reply(tools=attempts), reply("I cannot reach that."), reply("It is not possible."))
    run_id = new_run(app.slug, "Copy the other app")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    ends = [e for e in of_type(events(app.slug, run_id), "TOOL_END") if e["role"] == "engineer"]
    assert len(ends) == len(attempts) and not any(e["ok"] for e in ends)
    refusals = [m["content"] for m in llm.tool_results(2)]
    assert len(refusals) == len(attempts) and all(r.startswith("Error:") for r in refusals)
    assert tree_digest(other_root) == before and git.log(other_root) == history
    assert not (other_root / "evil.txt").exists()
    # The workspace holds no git directory to edit, and MGX's own (outside it) is untouched.
    assert not (ws.root / ".git").exists()
    assert "hooksPath" not in (git.git_dir(ws.root) / "config").read_text()


def test_ask_user_pauses_with_a_question_and_the_answer_reaches_the_model(llm, app):
    llm.add(reply("One question first.", tool=("ask_user", {"question": "Which colour should the header be?"})),
            reply("Green it is."))
    first = new_run(app.slug, "Style the header")
    assert run_agent(session=app.slug, run_id=first) == 0
    asked = events(app.slug, first)[-1].payload
    assert (asked["kind"], asked["reason"]) == ("question", "Which colour should the header be?")
    answered = new_run(app.slug, resume={"call_id": asked["call_id"], "approved": True, "answer": "Green"})
    assert run_agent(session=app.slug, run_id=answered) == 0
    assert llm.tool_results(1)[-1]["content"] == "The user answered: Green"
    assert events(app.slug, answered)[-1].payload["status"] == "done"


def test_unknown_tools_and_broken_arguments_are_answered_so_the_model_can_correct_itself(llm, app):
    llm.add({"tool_calls": [{"name": "read_file", "arguments": "{not json"},
                            {"name": "rm_rf", "arguments": {"path": "/"}}]},
            reply("Sorry, done."))
    run_id = new_run(app.slug, "Do something")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    told = " | ".join(m["content"] for m in llm.tool_results(1))
    # (langchain-openai reads unparseable streamed arguments as {}: the tool says what is missing)
    assert "read_file" in told and "path" in told and "no tool named 'rm_rf'" in told
    assert events(app.slug, run_id)[-1].payload["status"] == "done"


def test_a_failing_model_endpoint_ends_the_run_with_an_error_and_a_nonzero_exit(llm, app):
    run_id = new_run(app.slug, "Hello")  # the script is empty: the server answers 500
    assert run_agent(session=app.slug, run_id=run_id) == 1
    last = events(app.slug, run_id)[-1]
    assert last.type == "ERROR" and "The agent run failed" in last.payload["message"]
    assert AgentRun.objects(run_id=run_id).first().status == "failed"


def test_resuming_when_nothing_waits_fails_clearly(llm, app):
    run_id = new_run(app.slug, resume={"call_id": "call_gone", "approved": True})
    done = run_in_subprocess(app.slug, run_id, llm)
    assert done.returncode == 1
    last = events(app.slug, run_id)[-1]
    assert last.type == "ERROR" and "nothing waiting" in last.payload["message"]


def test_the_scripted_server_answers_without_streaming_and_records_requests(llm):
    import requests

    llm.add(reply("plain", tool=("list_files", {"path": ""}), usage=(7, 3)))
    got = requests.post(f"{llm.base_url}/chat/completions", json={"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}, timeout=10).json()
    message = got["choices"][0]["message"]
    assert message["content"] == "plain" and message["tool_calls"][0]["function"]["name"] == "list_files"
    assert got["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert llm.requests == [{"model": "m", "messages": [{"role": "user", "content": "hi"}]}]


def test_a_cancelled_run_stops_before_its_next_model_call_and_keeps_its_status(llm, app):
    run_id = new_run(app.slug, "Look around")

    def user_cancels(_body):
        AgentRun.objects(run_id=run_id).update_one(set__status="cancelled")  # as the chat's cancel does
        return reply(tool=("list_files", {"path": ""}))

    llm.add(user_cancels, reply("never sent"))
    assert run_agent(session=app.slug, run_id=run_id) == 0
    assert len(llm.requests) == 1
    assert AgentRun.objects(run_id=run_id).first().status == "cancelled"
    assert "FINISH" not in [e.type for e in events(app.slug, run_id)]  # MGX's cancel writes that one


def test_qa_failures_go_back_to_the_engineer_through_the_leader(llm, app):
    llm.add(
        reply(tool=("assign", {"role": "qa", "task": "Check the home page."})),
        reply(tool=("search", {"pattern": "Your app is running", "path": "app"})),
        reply("FAIL: the home page still shows the template text."),
        reply(tool=("assign", {"role": "engineer", "task": "QA says: the home page still shows the template text. Fix it."})),
        reply(tool=("read_file", {"path": "app/page.tsx"})),
        reply(tool=("edit_file", {"path": "app/page.tsx", "old_text": "Your app is running.",
                                  "new_text": "Welcome to your todos."})),
        reply("Replaced the template text."),
        reply(tool=("finish", {"summary": "Home page text fixed"})),
    )
    run_id = new_run(app.slug, "Make the home page yours")
    assert run_agent(session=app.slug, run_id=run_id) == 0
    qa_tools = {t["function"]["name"] for t in llm.requests[1]["tools"]}
    assert {"run_command", "start_dev_server", "fetch_preview", "read_logs"} <= qa_tools
    assert "app/page.tsx:" in llm.tool_results(2)[0]["content"]
    leader_saw = [m["content"] for m in llm.tool_results(3)]
    assert "Report from the QA:\nFAIL: the home page still shows the template text." in leader_saw
    assert "QA says" in llm.requests[4]["messages"][1]["content"]
    assert "Make the home page yours" in llm.requests[4]["messages"][1]["content"]
    assert "Welcome to your todos." in (workspace_of(app.slug).root / "app/page.tsx").read_text()
    assert [p["role"] for p in of_type(events(app.slug, run_id), "AGENT_START")] == [
        "team_leader", "qa", "team_leader", "engineer", "team_leader"]


def test_forgetting_a_session_starts_the_next_conversation_fresh(llm, app):
    from agents.services import conversation_forget

    llm.add(reply("First answer."), reply("Fresh answer."))
    assert run_agent(session=app.slug, run_id=new_run(app.slug, "First question")) == 0
    conversation_forget(session=app.slug)
    assert run_agent(session=app.slug, run_id=new_run(app.slug, "New question")) == 0
    assert [m["content"] for m in llm.requests[1]["messages"][1:]] == ["New question"]


def test_a_rejected_write_stays_rejected_even_if_the_reason_to_ask_went_away(llm, app):
    llm.add(reply(tool=("assign", {"role": "engineer", "task": "Rewrite README.md"})),
            reply(tool=("write_file", {"path": "README.md", "content": "agent text\n"})),
            reply("Leaving it."), reply("OK."))
    first = new_run(app.slug, "Rewrite the readme")
    assert run_agent(session=app.slug, run_id=first) == 0
    asked = events(app.slug, first)[-1].payload
    readme = workspace_of(app.slug).root / "README.md"
    readme.unlink()  # the user deletes it by hand: writing it would no longer need asking
    resumed = new_run(app.slug, resume={"call_id": asked["call_id"], "approved": False})
    assert run_agent(session=app.slug, run_id=resumed) == 0
    assert not readme.exists()
    assert llm.tool_results(2)[-1]["content"] == "The user rejected this action"
