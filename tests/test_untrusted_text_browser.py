"""Untrusted text stays text in MGX's pages (issue 24), in headless Chromium on the live stack.

The reported attack: an app's owner puts markup with htmx attributes (`data-hx-post`,
`data-hx-trigger="load"`, `data-hx-vals`) into what MGX shows to others — the app's name (which
the team's own message repeats as markdown), the model's markdown, file names, tool output. An
admin opens the app, switches tabs and goes Back; htmx processed what DOMPurify had let through
with the page's CSRF header, and the admin's browser added the owner's SSH key to the admin's
account. Here the owner writes those payloads the way they reach MGX (the app form's name, the
agent event store, the workspace), the admin browses, and every request the page makes is
recorded: none may be one a payload asked for, no key may land anywhere, and every payload
shows as the text it is. The same holds for what the app's code writes into the other tabs
(spans, its logs, its database, build and container output) and for its console in the Logs and
Terminal tabs."""
import json
import os
import threading
import uuid
from pathlib import Path

import pymongo
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from accounts.models import SSHKey
from agents import prompts
from agents.documents import AgentEvent, AgentRun, EventCounter, UsageRecord
from agents.services import event_append
from observability.tests.otlp_clients import log_exporter, make_logs, span_exporter
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


def back(page):
    """Back through htmx's history; it keeps no snapshot, so the page then loads afresh."""
    page.evaluate("window.__before_back = true")
    page.go_back()
    page.wait_for_function("() => !window.__before_back && document.readyState === 'complete'")


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
    back(page)
    page.locator("a.file-link", has_text="notes<i").wait_for()
    back(page)
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


def payload(where: str) -> str:
    """Markup an app's code or owner could put anywhere MGX shows it; `where` names the place."""
    return (f'<b data-hx-get="/?pwned={where}" data-hx-trigger="load">{where}</b>'
            f'<img src="/?pwned={where}-img" onerror="window.__pwned=1">')


def spans_with_payloads(service: str):
    """One failing trace whose names, attribute, event and status message are payloads."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "team": payload("resource")}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(payload("span"), attributes={"note": payload("attr")}) as top:
        top.add_event(payload("event"), {"detail": payload("event-attr")})
        with tracer.start_as_current_span(payload("child")) as child:
            child.set_status(Status(StatusCode.ERROR, payload("status")))
        top.set_status(Status(StatusCode.ERROR, "500"))
    provider.shutdown()
    return memory.get_finished_spans()


@pytest.fixture
def written(app, owner, live):
    """What the app's code and its owner wrote into the other tabs, through the paths it takes."""
    from deployments.builds import _LogWriter
    from deployments.documents import BuildLog
    from deployments.models import Build, DevEnvironment, Release
    from observability import services as telemetry

    token = telemetry.app_ingest_token(app=app)
    spans = spans_with_payloads(app.slug)
    assert span_exporter(live.url, token, app.slug).export(spans) == SpanExportResult.SUCCESS
    logs = make_logs(app.slug, trace_spans=spans, records=[("ERROR", payload("otel-log"))])
    assert log_exporter(live.url, token, app.slug).export(logs).name == "SUCCESS"
    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as store:
        store[f"app_{app.slug}"]["notes"].insert_one({"title": payload("doc"), payload("key").replace(".", "_"): 1})
    file_write(app=app, path="page.html", content=payload("diff") + "\n", user=owner)
    DevEnvironment.objects.update_or_create(app=app, defaults={
        "phase": DevEnvironment.Phase.FAILED, "message": payload("dev-msg"), "last_log": payload("dev-log")})
    build = Build.objects.create(app=app, number=1, commit="0" * 40, status=Build.Status.FAILED, message=payload("build-msg"))
    out = _LogWriter(build)
    out.line(payload("build-log"))
    out.flush()
    Release.objects.create(app=app, build=build, number=1, status=Release.Status.FAILED,
                           message=payload("release-msg"), last_log=payload("release-log"))
    yield out
    BuildLog.objects(build=build.pk).delete()
    telemetry.telemetry_delete(slug=app.slug)
    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as store:
        store.drop_database(f"app_{app.slug}")


def test_every_tab_shows_what_the_app_wrote_as_text_and_sends_nothing(live, page, app, admin, written, browser_login):
    requests = []
    page.on("request", lambda r: requests.append(r))
    browser_login(page, admin)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    assert payload("dev-msg") in page.locator(".dev-message").inner_text()
    assert page.locator(".dev-log pre").inner_text() == payload("dev-log")

    page.click("a.tab:has-text('Prod')")
    page.wait_for_selector("#build-log")
    assert payload("build-msg") in page.locator(".build-message").inner_text()
    assert payload("release-msg") in page.locator(".alert.release-failed").inner_text()
    assert page.locator(".alert.release-failed + .dev-log pre").inner_text() == payload("release-log")
    # A line the build prints while the tab is open arrives live, as text.
    writer = threading.Thread(target=lambda: (written.line(payload("build-live")), written.flush()))
    writer.start()
    writer.join()
    page.locator("#build-log", has_text="build-live").wait_for()
    assert page.locator("#build-log").inner_text().split("\n")[:2] == [payload("build-log"), payload("build-live")]

    page.click("a.tab:has-text('Traces')")
    page.locator(".trace-link", has_text="span").click()
    page.wait_for_selector(".trace-view .waterfall")
    for row in page.locator(".wf-row summary").all():
        row.click()
    view = page.locator("#trace-view").inner_text()
    for where in ("span", "attr", "event", "event-attr", "child", "status", "resource", "otel-log"):
        assert payload(where) in view, where
    shot(page, live, "untrusted-trace.png")

    page.click("a.tab:has-text('Logs')")
    page.click("a.subtab:has-text('App logs')")
    page.locator(".log-body", has_text="otel-log").wait_for()
    assert page.locator(".log-body").first.inner_text().startswith(payload("otel-log"))

    page.click("a.tab:has-text('Database')")
    page.click(".db-coll[data-collection='notes'] a")
    page.wait_for_selector(".db-json")
    doc = page.locator(".db-json").inner_text()
    assert json.dumps(payload("doc")) in doc and json.dumps(payload("key").replace(".", "_")) in doc  # as JSON text

    page.click("a.tab:has-text('History')")
    page.locator(".commit-link", has_text="page.html").click()
    page.wait_for_selector(".diff .d-add")
    assert "+" + payload("diff") in page.locator(".diff").inner_text()
    shot(page, live, "untrusted-diff.png")

    for _ in range(3):  # Back through the Database tab to the OpenTelemetry logs
        back(page)
    page.locator(".log-body", has_text="otel-log").wait_for()
    page.evaluate("htmx.process(document.body)")
    settle(page)
    assert [f"{r.method} {r.url}" for r in requests if "pwned" in r.url or KEYS_URL in r.url] == []
    assert page.evaluate("window.__pwned") is None
    assert SSHKey.objects.count() == 0

    # Django's admin lists the dev server's message as text too.
    page.goto(f"{live.url}/admin/deployments/devenvironment/")
    assert payload("dev-msg") in page.locator("#result_list").inner_text()
    settle(page)
    assert [r.url for r in requests if "pwned" in r.url or KEYS_URL in r.url] == []


@pytest.fixture
def talking_app(runtime_image, app, monkeypatch):
    """The app's dev server: a cheap one that prints what the test tells it to (a real container)."""
    from containers.frameworks import DESCRIPTORS, cheap_dev
    from deployments import services
    from deployments.tests.test_logs_terminal_ssh import CHEAP_DEV

    monkeypatch.setitem(DESCRIPTORS, app.framework, cheap_dev(DESCRIPTORS[app.framework], CHEAP_DEV))
    assert services.dev_boot(app=app).phase == "ready"
    yield app
    services.dev_stop(app=app)


def test_container_output_shows_as_text_in_the_logs_and_the_terminal(live, page, talking_app, admin, browser_login):
    from deployments.tests.test_logs_terminal_ssh import say

    requests = []
    page.on("request", lambda r: requests.append(r))
    browser_login(page, admin)
    page.goto(f"{live.url}/sessions/{talking_app.slug}/?tab=logs")
    out = page.locator("#logs-out")
    out.locator(".log-line", has_text="cheap dev server up").wait_for(timeout=20_000)
    say(talking_app, payload("log-line") + "\n" + payload("log-colour").join(("\x1b[31m", "\x1b[0m")) + "\n")
    out.locator(".log-line", has_text="log-colour").wait_for(timeout=20_000)
    lines = [line.split(" ", 2)[-1] for line in out.locator(".log-line").all_inner_texts()]  # without the timestamp
    assert payload("log-line") in lines and payload("log-colour") in lines

    page.click("a.tab:has-text('Terminal')")
    page.locator("#terminal .xterm-rows", has_text="log-colour").wait_for(timeout=20_000)
    screen = page.locator("#terminal .xterm-rows").inner_text().replace("\n", "").replace("\xa0", " ")
    assert payload("log-line") in screen  # drawn as characters (the terminal wraps long lines)
    back(page)
    out.locator(".log-line", has_text="log-colour").wait_for(timeout=20_000)
    page.evaluate("htmx.process(document.body)")
    settle(page)
    assert [f"{r.method} {r.url}" for r in requests if "pwned" in r.url or KEYS_URL in r.url] == []
    assert page.evaluate("window.__pwned") is None
    shot(page, live, "untrusted-logs.png")
