"""The Chat tab in headless Chromium, on the live stack: events written to the store (the way the
agent runner writes them) appear in the open page without a reload; a reconnect or a reload
replays exactly the events after the last one seen; the model's markdown is rendered and its
HTML cannot run script; a changed file opens in the editor; an approval card posts the decision
and shows it."""
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from agents.documents import AgentEvent, AgentRun, EventCounter, UsageRecord
from agents.services import event_append
from agents.testing import agent_run

pytestmark = pytest.mark.django_db(transaction=True)

# Every element an event touched lists that event's seq in data-seqs.
SEQS_JS = "els => els.flatMap(e => e.dataset.seqs.split(' ').map(Number))"


@pytest.fixture
def owner(user_factory):
    return user_factory(username="casey")


@pytest.fixture(autouse=True)
def model_configured(transactional_db):
    """The composer takes messages once a model is configured (tests/test_model_settings_browser.py
    has the chat without one). An endpoint nobody listens on: a run that reaches it fails at once."""
    from agents.models import ModelSettings

    ModelSettings.objects.create(pk=ModelSettings.SINGLETON, base_url="http://127.0.0.1:9/v1")


@pytest.fixture
def app(app_factory, owner):
    made = app_factory(owner=owner, name="Chat Demo")
    # MongoDB outlives the test database: the next test's app has the same slug.
    clear = lambda: [doc.objects(**{key: made.slug}).delete() for doc, key in  # noqa: E731
                     ((AgentEvent, "session"), (AgentRun, "session"), (UsageRecord, "session"), (EventCounter, "session"))]
    clear()
    yield made
    clear()


def shot(page, live, name):
    """A screenshot to look at: in MGX_TEST_SCREENSHOTS when set (the run directory is removed
    after the run)."""
    folder = Path(os.environ.get("MGX_TEST_SCREENSHOTS") or live.layout.var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def open_chat(page, live, app):
    page.goto(f"{live.url}/sessions/{app.slug}/")
    page.wait_for_selector("#chat-conn[data-state='live']")


def seqs(page):
    return page.eval_on_selector_all("#chat-log [data-seqs]", SEQS_JS)


def wait_for_seqs(page, n):
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('#chat-log [data-seqs]')).flatMap(e => e.dataset.seqs.split(' ')).length >= {n}")
    return sorted(seqs(page))


def emit(app, type_, run="", **payload):
    """Write one event as the agent runner does. From a thread of its own: the test's thread
    runs Playwright's event loop, and the channel-layer publish refuses to run inside a loop."""
    done = []
    writer = threading.Thread(target=lambda: done.append(event_append(session=app.slug, type=type_, run=run, payload=payload)))
    writer.start()
    writer.join()
    assert done, f"{type_} was not written"
    return done[0]


def test_events_stream_in_live_and_the_models_markdown_is_rendered_but_cannot_run_script(live, page, app, owner, browser_login):
    browser_login(page, owner)
    open_chat(page, live, app)
    assert page.locator("a.tab.active").inner_text() == "Chat"  # the default tab
    assert page.locator(".chat-nollm").count() == 0  # a model is configured
    assert page.locator("#chat-empty").is_visible()

    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text="Build a todo app\nwith tags", user="casey")
    page.wait_for_selector(".msg-user-text")
    assert page.locator(".msg-user-text").inner_text() == "Build a todo app\nwith tags"
    assert page.locator("#chat-empty").is_hidden()
    assert page.locator("#chat-text").is_disabled() and page.locator("#chat-cancel-btn").is_visible()  # a run is going

    emit(app, "AGENT_START", run, role="team_leader")
    for piece in ("Here is the **plan**:\n\n", "- one\n- two\n\n", "```js\nconsole.log(1)\n```\n"):
        emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="m1", text=piece)
    # What a model (or a prompt injection through it) could write: none of it may run.
    emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="m2",
         text='Look: <img src="x" onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
              '[click](javascript:window.__pwned=3) <a href="https://example.org" onclick="window.__pwned=4">site</a>')
    page.wait_for_selector(".md[data-message='m2'] a")
    first = page.locator(".md[data-message='m1']")
    assert first.locator("strong").inner_text() == "plan"
    assert first.locator("li").all_inner_texts() == ["one", "two"]
    assert first.locator("pre code").inner_text().strip() == "console.log(1)"
    assert page.locator(".turn[data-role='team_leader'] .turn-role").first.inner_text() == "Team leader"
    evil = page.locator(".md[data-message='m2']")
    assert evil.locator("script").count() == 0
    assert evil.locator("[onerror], [onclick]").count() == 0
    assert all(not (a.get_attribute("href") or "").lower().startswith("javascript") for a in evil.locator("a").all())
    if evil.locator("a", has_text="click").count():
        evil.locator("a", has_text="click").click()  # no href left to run
    assert page.evaluate("window.__pwned") is None

    emit(app, "AGENT_START", run, role="engineer")
    emit(app, "TOOL_START", run, role="engineer", tool="run_command", call_id="c1", args={"command": "npm test"})
    emit(app, "TOOL_END", run, role="engineer", tool="run_command", call_id="c1", ok=False, output="1 failing test\nexpected 2, got 3")
    emit(app, "USAGE", run, role="engineer", model="glm-4", prompt_tokens=1200, completion_tokens=300, cost=0.0021)
    emit(app, "USAGE", run, role="qa", model="glm-4", prompt_tokens=800, completion_tokens=100, cost=0.0009)
    tool = page.locator(".tool-row[data-call='c1']")
    tool.locator(".tool-state", has_text="failed").wait_for()
    assert "is-fail" in tool.get_attribute("class")
    assert tool.locator("summary").inner_text().replace("\n", " ").startswith("engineer · run_command npm test")
    assert tool.get_attribute("open") is None  # collapsed: the output is one click away
    tool.locator("summary").click()
    assert "expected 2, got 3" in tool.locator(".tool-output").inner_text()
    usage = page.locator(f".chat-run[data-run='{run}'] .run-usage")
    usage.filter(has_text="2,000 tokens in").wait_for()
    assert "400 out" in usage.inner_text() and "$0.0030" in usage.inner_text() and "2 model calls" in usage.inner_text()
    assert "2,000 tokens in" in page.locator("#chat-usage").inner_text()

    emit(app, "ERROR", run, message="The dev server did not answer.\n\n```\nECONNREFUSED\n```")
    emit(app, "FINISH", run, status="done", summary="Built the **todo** app.", commit="0123456789abcdef")
    summary = page.locator(f".chat-run[data-run='{run}'] .run-summary")
    summary.wait_for()
    assert "Done" in summary.inner_text() and summary.locator("strong").inner_text() == "todo"
    assert "ECONNREFUSED" in page.locator(".chat-error").inner_text()
    assert page.locator("#chat-text").is_enabled() and page.locator("#chat-send-btn").is_visible()
    assert sorted(seqs(page)) == list(range(1, 14))
    shot(page, live, "chat-stream.png")


def test_reconnect_and_reload_replay_each_event_exactly_once(live, page, app, owner, browser_login):
    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text="Add a footer", user="casey")
    emit(app, "AGENT_START", run, role="engineer")
    for i in range(3):
        emit(app, "MESSAGE_DELTA", run, role="engineer", message_id="m1", text=f"part {i} ")

    sockets = []
    page.on("websocket", lambda ws: "/agent/" in ws.url and sockets.append(ws.url))
    browser_login(page, owner)
    open_chat(page, live, app)
    assert wait_for_seqs(page, 5) == [1, 2, 3, 4, 5]
    assert any(u.endswith("/agent/?after=0") for u in sockets)

    # The connection drops; what is written meanwhile arrives when the page reconnects.
    page.evaluate("document.getElementById('chat')._chat.socket.close()")
    page.wait_for_selector("#chat-conn[data-state='reconnecting']")
    for i in range(3, 6):
        emit(app, "MESSAGE_DELTA", run, role="engineer", message_id="m1", text=f"part {i} ")
    assert wait_for_seqs(page, 8) == list(range(1, 9))
    assert sockets[-1].endswith("/agent/?after=5")
    page.wait_for_selector("#chat-conn[data-state='live']")
    assert page.locator(".md[data-message='m1']").inner_text().split() == [w for i in range(6) for w in ("part", str(i))]

    # Events keep coming while the page reloads: none is lost, none is shown twice.
    writer = threading.Thread(target=lambda: [event_append(session=app.slug, type="MESSAGE_DELTA", run=run,
                                                           payload={"role": "engineer", "message_id": "m2", "text": "x"})
                                              for _ in range(40)])
    writer.start()
    page.reload()
    writer.join()
    emit(app, "FINISH", run, status="done", summary="Footer added.", commit="")
    assert wait_for_seqs(page, 49) == list(range(1, 50))
    assert page.locator(".md[data-message='m2']").inner_text() == "x" * 40
    assert page.locator(".msg-user").count() == 1 and page.locator(".md[data-message='m1']").count() == 1


def test_a_changed_file_link_opens_the_file_in_the_editor(live, page, app, owner, browser_login):
    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text="Change the title", user="casey")
    emit(app, "AGENT_START", run, role="engineer")
    emit(app, "TOOL_START", run, role="engineer", tool="edit_file", call_id="c1", args={"path": "app/page.tsx", "old_text": "a", "new_text": "b"})
    emit(app, "FILE_CHANGED", run, path="app/page.tsx", action="edited")
    emit(app, "FILE_CHANGED", run, path="old.txt", action="deleted")
    emit(app, "TOOL_END", run, role="engineer", tool="edit_file", call_id="c1", ok=True, output="Edited app/page.tsx")
    emit(app, "FINISH", run, status="done", summary="Done.", commit="")

    browser_login(page, owner)
    open_chat(page, live, app)
    link = page.locator("a.chat-file-link", has_text="app/page.tsx")
    link.wait_for()
    assert page.locator(".file-change.action-deleted a").count() == 0  # nothing to open
    link.click()
    page.wait_for_selector(".cm-editor .cm-content")
    assert page.locator("#crumbs").inner_text().replace("\n", "") == "app/page.tsx"
    assert "Chat Demo" in page.locator(".cm-content").inner_text()
    assert "tab=files" in page.url and "path=app%2Fpage.tsx" in page.url
    assert page.locator("a.tab.active").inner_text() == "Files"


def wait_run_over(run_id, timeout=180):
    """Until the Celery task that ran it is done with it (container gone), so the test's
    teardown does not empty the database and workspace under a run still going."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AgentRun.objects(run_id=run_id).first()
        if run and run.status in ("done", "failed", "cancelled", "waiting") and not (run.token_hash and run.container_id):
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still going after {timeout} s")


def test_an_approval_card_posts_the_edited_command_and_shows_the_decision(live, page, app, owner, browser_login):
    run = agent_run(session=app.slug, user=owner.username, status="waiting", input="Run the tests").run_id
    emit(app, "USER_MESSAGE", run, text="Run the tests", user="casey")
    emit(app, "AGENT_START", run, role="engineer")
    emit(app, "INTERRUPT", run, call_id="call-7", tool="run_command", args={"command": "npm test"}, kind="approval",
         reason="Run a command in the app's dev container", role="engineer")

    browser_login(page, owner)
    open_chat(page, live, app)
    card = page.locator(".interrupt[data-call='call-7']")
    card.wait_for()
    assert "Engineer wants to use" in card.inner_text() and "run_command" in card.inner_text()
    assert page.locator("#chat-text").is_disabled()  # the team waits for this card, not for a new message
    command = card.locator("input[name=command]")
    assert command.input_value() == "npm test"
    command.fill("npm test -- --runInBand")
    shot(page, live, "chat-interrupt.png")
    with page.expect_response(lambda r: r.url.endswith(f"/agent/runs/{run}/resume")) as answered:
        card.locator("button", has_text="Approve").click()
    assert answered.value.status == 202
    new_run = answered.value.json()["run"]
    assert AgentRun.objects(run_id=new_run).first().resume == {"call_id": "call-7", "approved": True, "command": "npm test -- --runInBand"}

    # The resume run's first event carries the decision: the card settles on it.
    page.wait_for_selector(".interrupt[data-call='call-7'][data-decision='approved']:not(:has(.interrupt-wait))")
    decision = card.locator(".interrupt-decision").inner_text()
    assert "Approved" in decision and "npm test -- --runInBand" in decision
    assert card.locator("button", has_text="Approve").is_hidden()
    wait_run_over(new_run)

    # After a reload the card is still answered, from the events alone.
    page.reload()
    page.wait_for_selector(".interrupt[data-call='call-7'][data-decision='approved']")
    assert page.locator(".msg-user").count() == 1  # the decision is on the card, not a second bubble
    shot(page, live, "chat-decided.png")


def test_a_question_card_sends_the_answer_and_a_rejection_is_shown(live, page, app, owner, browser_login):
    asked = agent_run(session=app.slug, user=owner.username, status="waiting", input="Run the tests").run_id
    emit(app, "USER_MESSAGE", asked, text="Make it pretty", user="casey")
    emit(app, "AGENT_START", asked, role="team_leader")
    emit(app, "INTERRUPT", asked, call_id="q-1", tool="ask_user", args={"question": "Which colour should the header be?"},
         kind="question", reason="Which colour should the header be?", role="team_leader")

    browser_login(page, owner)
    open_chat(page, live, app)
    card = page.locator(".interrupt[data-call='q-1']")
    assert "Which colour should the header be?" in card.inner_text()
    card.locator("textarea[name=answer]").fill("Teal, please")
    with page.expect_response(lambda r: "/resume" in r.url) as answered:
        card.locator("button", has_text="Send answer").click()
    assert answered.value.status == 202
    page.wait_for_selector(".interrupt[data-call='q-1'][data-decision='answered']:not(:has(.interrupt-wait))")
    assert "Teal, please" in card.locator(".interrupt-decision").inner_text()

    # The resumed run ends (this stack has no model: the team says so, or the container cannot start);
    # the next pause is rejected.
    resumed = answered.value.json()["run"]
    wait_run_over(resumed)
    second = agent_run(session=app.slug, user=owner.username, status="waiting", input="Run the tests").run_id
    emit(app, "AGENT_START", second, role="engineer")
    emit(app, "INTERRUPT", second, call_id="d-1", tool="delete_file", args={"path": "README.md"}, kind="approval",
         reason="Delete README.md", role="engineer")
    card = page.locator(".interrupt[data-call='d-1']")
    card.wait_for()
    assert "README.md" in card.locator("pre").inner_text()
    with page.expect_response(lambda r: "/resume" in r.url) as answered:
        card.locator("button", has_text="Reject").click()
    assert answered.value.status == 202
    page.wait_for_selector(".interrupt[data-call='d-1'][data-decision='rejected']:not(:has(.interrupt-wait))")
    assert AgentRun.objects(run_id=answered.value.json()["run"]).first().resume == {"call_id": "d-1", "approved": False}
    wait_run_over(answered.value.json()["run"])


def test_sending_a_message_posts_it_and_the_run_shows_up(live, page, app, owner, browser_login):
    browser_login(page, owner)
    open_chat(page, live, app)
    page.fill("#chat-text", "A guest book page")
    with page.expect_response(lambda r: r.url.endswith("/agent/messages")) as sent:
        page.press("#chat-text", "Enter")
    assert sent.value.status == 202
    page.wait_for_selector(".msg-user-text:has-text('A guest book page')")
    assert page.locator("#chat-text").input_value() == ""
    run = sent.value.json()["run"]
    assert AgentRun.objects(run_id=run).first().input == "A guest book page"
    # Whatever the stack makes of it (no model here), the run ends and the composer comes back.
    page.wait_for_selector(f".chat-run[data-run='{run}'] .run-summary, .chat-run[data-run='{run}'] .chat-error", timeout=120_000)
    page.wait_for_function("() => !document.getElementById('chat-text').disabled", timeout=30_000)
    wait_run_over(run)
    shot(page, live, "chat-sent.png")


def test_switching_tabs_closes_the_socket_and_coming_back_replays_once(live, page, app, owner, browser_login):
    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text="Hello team", user="casey")
    emit(app, "AGENT_START", run, role="team_leader")
    emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="m1", text="Hello!")
    sockets = []
    page.on("websocket", lambda ws: "/agent/" in ws.url and sockets.append(ws))
    browser_login(page, owner)
    open_chat(page, live, app)
    assert wait_for_seqs(page, 3) == [1, 2, 3]

    page.click("a.tab:has-text('History')")
    page.wait_for_selector(".history-layout")
    page.wait_for_function("() => !document.getElementById('chat')")
    if not sockets[0].is_closed():  # the chat left the page: its socket goes with it
        sockets[0].wait_for_event("close")
    emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="m1", text=" Still here.")

    page.click("a.tab:has-text('Chat')")
    page.wait_for_selector("#chat-conn[data-state='live']")
    assert wait_for_seqs(page, 4) == [1, 2, 3, 4]
    assert page.locator(".md[data-message='m1']").inner_text() == "Hello! Still here."

    # Back through HTMX's history (which keeps no snapshots: the page loads afresh): the chat replays once.
    page.click("a.tab:has-text('Files')")
    page.wait_for_selector("#files")
    page.go_back()
    page.wait_for_selector("#chat-conn[data-state='live']")
    emit(app, "FINISH", run, status="done", summary="Said hello.", commit="")
    assert wait_for_seqs(page, 5) == [1, 2, 3, 4, 5]
    assert page.locator(".msg-user").count() == 1
    assert sum(1 for ws in sockets if not ws.is_closed()) == 1


def test_the_list_follows_new_events_unless_the_reader_scrolled_up(live, page, app, owner, browser_login):
    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text="Write a long answer", user="casey")
    emit(app, "AGENT_START", run, role="architect")
    for i in range(30):
        emit(app, "MESSAGE_DELTA", run, role="architect", message_id=f"p{i}", text=f"Paragraph {i}: " + "design words " * 20)
    browser_login(page, owner)
    open_chat(page, live, app)
    wait_for_seqs(page, 32)
    at_bottom = "() => { const s = document.getElementById('chat-scroll'); return s.scrollHeight - s.scrollTop - s.clientHeight < 60; }"
    page.wait_for_function(at_bottom)

    emit(app, "MESSAGE_DELTA", run, role="architect", message_id="p30", text="Followed to the end.")
    page.wait_for_selector(".md[data-message='p30']")
    page.wait_for_function(at_bottom)

    page.locator("#chat-scroll").evaluate("s => s.scrollTop = 0")
    page.wait_for_timeout(100)
    emit(app, "MESSAGE_DELTA", run, role="architect", message_id="p31", text="Written while you read above.")
    page.wait_for_selector(".md[data-message='p31']")
    page.wait_for_selector("#chat-jump:not([hidden])")
    assert page.locator("#chat-scroll").evaluate("s => s.scrollTop") == 0  # left where the reader is
    page.click("#chat-jump")
    page.wait_for_function(at_bottom)
    page.wait_for_selector("#chat-jump[hidden]", state="attached")


def test_cancel_stops_the_run_going_and_gives_the_composer_back(live, page, app, owner, browser_login):
    run = agent_run(session=app.slug, user=owner.username, status="running", input="Build it all")
    emit(app, "USER_MESSAGE", run.run_id, text="Build it all", user="casey")
    emit(app, "AGENT_START", run.run_id, role="engineer")

    browser_login(page, owner)
    open_chat(page, live, app)
    assert page.locator("#chat-text").is_disabled() and page.locator("#chat-send-btn").is_hidden()
    assert "Engineer is working" in page.locator(".chat-typing").inner_text()
    with page.expect_response(lambda r: r.url.endswith(f"/agent/runs/{run.run_id}/cancel")) as cancelled:
        page.click("#chat-cancel-btn")
    assert cancelled.value.status == 200 and cancelled.value.json() == {"status": "cancelled"}
    summary = page.locator(f".chat-run[data-run='{run.run_id}'] .run-summary")
    summary.wait_for()
    assert "Cancelled" in summary.inner_text()
    assert page.locator("#chat-text").is_enabled() and page.locator("#chat-cancel-btn").is_hidden()
    assert page.locator(".chat-typing").is_hidden()
