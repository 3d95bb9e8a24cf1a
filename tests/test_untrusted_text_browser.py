"""Untrusted text stays text in MGX's pages (issue 24), in headless Chromium on the live stack.

The reported attack: an app's owner puts markup with htmx attributes (`data-hx-post`,
`data-hx-trigger="load"`, `data-hx-vals`) into what MGX shows to others — the app's name (which
the team's own message repeats as markdown), the model's markdown, file names, tool output. An
admin opens the app, switches tabs and goes Back; htmx processed what DOMPurify had let through
with the page's CSRF header, and the admin's browser added the owner's SSH key to the admin's
account. Here the owner writes those payloads the way they reach MGX (the app form's name, the
agent event store, the workspace), the admin browses, and every request the page makes is
recorded: none may be one a payload asked for, no key may land anywhere, and every payload
shows as the text it is."""
import json
import os
import threading
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from accounts.models import SSHKey
from agents import prompts
from agents.documents import AgentEvent, AgentRun, EventCounter, UsageRecord
from agents.services import event_append
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)

KEYS_URL = "/accounts/profile/keys/"
# At most 100 characters, as the New app form allows.
NAME = f"Pwn <b data-hx-post={KEYS_URL} data-hx-trigger=load data-hx-vals='{{\"title\":\"n\"}}'>x</b>"
# A file name has no "/" in it, so it asks for a relative URL; "pwned" marks every request a
# payload asks for.
FILE = 'notes<i data-hx-get="?pwned=file" data-hx-trigger="load">.txt'


def public_key() -> str:
    """A fresh Ed25519 key: MGX would accept it (one key, one account)."""
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return raw.decode() + " attacker@example"


def markdown_payload(key: str, where: str) -> str:
    """What a model (or a prompt injection through it) writes: real markdown around raw HTML
    whose htmx attributes would post the key with the viewer's CSRF header."""
    vals = json.dumps({"title": f"pwned-{where}", "public_key": key})
    return (f"Here is the **plan** ({where}).\n\n"
            f"<div data-hx-post=\"{KEYS_URL}\" data-hx-trigger=\"load\" data-hx-vals='{vals}'>notes</div>\n\n"
            f'<span hx-get="/?pwned={where}-plain" hx-trigger="load">plain</span> '
            f'<i data-hx-get="/?pwned={where}-on" data-hx-trigger="load" data-hx-on--after-request="window.__pwned=1">on</i> '
            f'<b data-hx-get="/?pwned={where}-revealed" data-hx-trigger="revealed">seen</b>')


@pytest.fixture
def owner(user_factory):
    return user_factory(username="mallory")


@pytest.fixture
def admin(user_factory):
    return user_factory(username="root-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def app(app_factory, owner):
    made = app_factory(owner=owner, name=NAME)
    clear = lambda: [doc.objects(**{key: made.slug}).delete() for doc, key in  # noqa: E731
                     ((AgentEvent, "session"), (AgentRun, "session"), (UsageRecord, "session"), (EventCounter, "session"))]
    clear()
    yield made
    clear()


def emit(app, type_, run="", **payload):
    """Write one event as the agent runner does (from a thread: Playwright's loop runs in this one)."""
    done = []
    writer = threading.Thread(target=lambda: done.append(event_append(session=app.slug, type=type_, run=run, payload=payload)))
    writer.start()
    writer.join()
    assert done, f"{type_} was not written"


def shot(page, live, name):
    """A screenshot to look at: in MGX_TEST_SCREENSHOTS when set (else the run directory)."""
    folder = Path(os.environ.get("MGX_TEST_SCREENSHOTS") or live.layout.var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def settle(page):
    """Every request the page issued so far has been reported: one issued after them has."""
    with page.expect_request(lambda r: "sentinel=" in r.url):
        page.evaluate("fetch('/healthz?sentinel=' + Math.random())")


def test_an_admin_browsing_an_app_with_htmx_payloads_sends_nothing_and_sees_text(live, page, app, owner, admin, browser_login):
    key = public_key()
    run = uuid.uuid4().hex
    emit(app, "USER_MESSAGE", run, text=NAME, user=owner.username)
    emit(app, "AGENT_START", run, role="team_leader")
    # The app's name reaches the chat's markdown in the team's own words, as the runner writes them.
    emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="name",
         text=prompts.no_llm_message(app_name=app.name, framework=app.framework))
    emit(app, "MESSAGE_DELTA", run, role="team_leader", message_id="md", text=markdown_payload(key, "md"))
    emit(app, "AGENT_START", run, role="engineer")
    emit(app, "TOOL_START", run, role="engineer", tool="run_command", call_id="c1", args={"command": NAME})
    emit(app, "TOOL_END", run, role="engineer", tool="run_command", call_id="c1", ok=True, output=markdown_payload(key, "tool"))
    file_write(app=app, path=FILE, content="hello\n", user=owner)
    emit(app, "FILE_CHANGED", run, path=FILE, action="created")
    emit(app, "FINISH", run, status="done", summary=markdown_payload(key, "summary"), commit="")

    requests = []
    page.on("request", lambda r: requests.append(r))
    browser_login(page, admin)
    page.goto(f"{live.url}/sessions/{app.slug}/")
    page.wait_for_selector("#chat-conn[data-state='live']")
    page.wait_for_selector(f".chat-run[data-run='{run}'] .run-summary")

    # Tab switches push history entries; Back returns through them to the chat.
    page.click("a.tab:has-text('Files')")
    page.locator("a.file-link", has_text="notes<i").wait_for()
    page.click("a.tab:has-text('History')")
    page.wait_for_selector(".commit")
    page.go_back()
    page.locator("a.file-link", has_text="notes<i").wait_for()
    page.go_back()
    page.wait_for_selector("#chat-conn[data-state='live']")
    page.wait_for_selector(f".chat-run[data-run='{run}'] .run-summary")
    # Whatever processes the page again (a swap, a script) finds nothing to act on in the chat.
    page.evaluate("htmx.process(document.body); htmx.process(document.getElementById('chat-log'))")
    settle(page)

    # Nothing the payloads asked for left the browser, and no key was added to anyone.
    asked = [f"{r.method} {r.url}" for r in requests if "pwned" in r.url or r.url.split("?")[0].endswith(KEYS_URL)]
    for r in requests:
        if r.url.split("?")[0].endswith(KEYS_URL):
            r.response()  # let a POST that went out land, so the database shows what it did
    keys = list(SSHKey.objects.values_list("user__username", "title"))
    assert (asked, keys) == ([], [])
    assert page.evaluate("window.__pwned") is None

    # Each payload shows as the text it is.
    assert page.locator(".session-title h1").inner_text() == NAME
    assert page.title().startswith(NAME)
    assert NAME in page.locator(".md[data-message='name']").inner_text()
    assert page.locator(".msg-user-text").inner_text() == NAME
    assert NAME in page.locator(".tool-row[data-call='c1'] .tool-arg").inner_text()
    assert page.locator("a.chat-file-link").inner_text() == FILE
    # The model's markdown is still markdown; its HTML keeps no htmx attribute.
    md = page.locator(".md[data-message='md']")
    assert md.locator("strong").inner_text() == "plan"
    assert "notes" in md.inner_text()
    no_htmx = ("root => [root, ...root.querySelectorAll('*')].filter(e => [...e.attributes]"
               ".some(a => /^(data-)?hx-/i.test(a.name) && a.name.toLowerCase() !== 'hx-disable')).map(e => e.outerHTML)")
    assert page.eval_on_selector("#chat-log", no_htmx) == []
    shot(page, live, "untrusted-chat.png")
    page.locator(".md[data-message='name']").scroll_into_view_if_needed()
    shot(page, live, "untrusted-chat-name.png")

    # The file name as text in the tree and in History, in a page loaded afresh.
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=history")
    assert FILE in page.locator(".commit-msg").first.inner_text()
    page.click("a.tab:has-text('Files')")
    name = page.locator("a.file-link .tree-name", has_text="notes<i")
    name.wait_for()
    assert name.inner_text() == FILE
    shot(page, live, "untrusted-files.png")
    settle(page)
    assert [f"{r.method} {r.url}" for r in requests if "pwned" in r.url or KEYS_URL in r.url] == []
