"""The whole user journey in headless Chromium, per framework, on the live stack: log in, create
an app from the form, the scripted model team changes the home page's heading while the chat
streams it, the owner edits the heading in the editor, the dev preview shows it, build and
deploy, prod shows it, an app user added on the Users tab logs into prod through MGX, shows up
on the Database tab, their request on the Traces tab and prod's lines on the Logs tab, then a
second release and a roll back to the first. Every step asserts on text a user sees and leaves
a full-page screenshot under var/test-artifacts/journey/<framework>/ (MGX_TEST_ARTIFACTS moves
it), which CI keeps."""
import os
import re
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from agents.documents import AgentEvent, AgentRun, EventCounter, UsageRecord
from agents.testing import ScriptedLLM, reply
from deployments.models import Build, Release
from mgx_site import defaults
from mgx_site.cli import procs
from sessions_app.models import App
from tests.test_templates_acceptance import PASSWORD, arrive
from workspaces import selectors as ws_selectors
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)

# The file whose <h1> is the home page's heading, per template.
HOME = {"nextjs": "app/page.tsx", "fastapi_vite": "frontend/src/pages/Home.jsx"}
NAMES = {"nextjs": "Journey Next", "fastapi_vite": "Journey Vite"}
TEAM_HEADING = "Hello from the team"
EDITED_HEADING = "Hello from the editor"
RELEASE_TWO_HEADING = "Release two heading"


@pytest.fixture(scope="module")
def llm(live):
    """The scripted model team, reached by the live stack: the Celery worker (which starts the
    agent containers) and Daphne (which tells the chat a model is configured) read
    MGX_LLM_BASE_URL at start, so both are restarted on it for this module and restarted
    without it afterwards, leaving the stack as the other tests expect it."""
    server = ScriptedLLM(host=procs.docker_bridge_address(settings.MGX_DOCKER_HOST)).start()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mgx_site.settings.test")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    mine = [live.stack["daphne"], live.stack["celery"]]

    def restart(environment):
        for proc in mine:
            procs.stop(live.layout, proc)
        procs.start_all(live.layout, mine, env=environment)

    restart(dict(env, MGX_LLM_BASE_URL=server.base_url))
    yield server
    restart(env)
    server.stop()


class Journey:
    """One framework's walk: the page, the app once made, and numbered screenshots."""

    def __init__(self, *, live, page, framework):
        self.live, self.page, self.framework = live, page, framework
        self.app = None
        self.shots = Path(os.environ.get("MGX_TEST_ARTIFACTS") or defaults.MGX_VAR_DIR / "test-artifacts") \
            / "journey" / framework
        self.shots.mkdir(parents=True, exist_ok=True)
        for old in self.shots.glob("*.png"):
            old.unlink()
        self.n = 0
        # What the app's event socket said, for a failure message about a panel that did not update.
        self.heard = []
        page.on("websocket", self._watch)

    def _watch(self, ws):
        self.heard.append(f"open {ws.url}")
        ws.on("framereceived", lambda payload: self.heard.append(str(payload)[:160])
              if "status" in str(payload) else None)
        ws.on("close", lambda _ws: self.heard.append(f"closed {ws.url}"))

    def shot(self, step):
        self.n += 1
        self.page.screenshot(path=str(self.shots / f"{self.n:02d}-{step}.png"), full_page=True)

    def tab(self, name):
        self.page.goto(f"{self.live.url}/sessions/{self.app.slug}/?tab={name}")

    @property
    def prod_url(self):
        return f"{self.live.apps_url}/apps/{self.app.slug}/prod/"

    @property
    def dev_url(self):
        return f"{self.live.apps_url}/apps/{self.app.slug}/dev/"

    def shows(self, selector, text, *, timeout, what, extra=lambda: ""):
        """Wait until `selector` shows `text`; on a time-out say what the page showed instead."""
        try:
            self.page.locator(selector, has_text=text).first.wait_for(timeout=timeout * 1000)
        except Exception as exc:
            body = self.page.locator("body").inner_text()[-3000:] if self.page.locator("body").count() else ""
            raise AssertionError(f"{what}: {selector!r} never showed {text!r} within {timeout} s at {self.page.url}; "
                                 f"the page shows:\n{body}\n{extra()}") from exc

    def heading_on(self, url, text, *, timeout, what):
        """Open `url` (again, until `timeout`) until its <h1> reads `text`."""
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            self.page.goto(url)
            try:
                self.page.locator("h1", has_text=text).first.wait_for(timeout=5000)
                return
            except Exception:
                seen = self.page.locator("body").inner_text()[:1500]
            self.page.wait_for_timeout(1000)  # a retry interval of a poll with a deadline, not a synchronisation
        raise AssertionError(f"{what}: {url} never showed the heading {text!r} within {timeout} s; it shows:\n{seen}")


def team_script(path, old_heading):
    """What the scripted team does with "make the heading friendlier": the team leader hands it
    to the engineer, who reads the page, edits its heading, says so, and the leader finishes."""
    return [
        reply(tool=("assign", {"role": "engineer", "task": "Change the home page heading."})),
        reply(tool=("read_file", {"path": path})),
        reply(tool=("edit_file", {"path": path, "old_text": f"<h1>{old_heading}</h1>",
                                  "new_text": f"<h1>{TEAM_HEADING}</h1>"})),
        reply(f"I changed the heading of `{path}` to **{TEAM_HEADING}**."),
        reply(tool=("finish", {"summary": "Changed the home page heading"})),
    ]


def _clear_agent_records(slug):
    for doc, key in ((AgentEvent, "session"), (AgentRun, "session"), (UsageRecord, "session"),
                     (EventCounter, "session")):
        doc.objects(**{key: slug}).delete()


@pytest.fixture
def cleanup():
    made = []
    yield made
    from deployments import production, services
    from observability.services import telemetry_delete

    def stop_all():
        for app in made:
            services.dev_stop(app=app)
            production.prod_stop(app=app)
            telemetry_delete(slug=app.slug)
            _clear_agent_records(app.slug)

    # From a thread of its own: this thread runs Playwright's event loop, where the stops'
    # status announcements (channel-layer publishes) refuse to run.
    stopper = threading.Thread(target=stop_all)
    stopper.start()
    stopper.join()


@pytest.mark.timeout(2700)  # two image builds and a dev install: minutes each on a loaded machine
@pytest.mark.parametrize("framework", list(HOME))
def test_the_whole_journey(framework, live, page, llm, agent_image, user_factory, browser_login, cleanup):
    started = time.monotonic()
    j = Journey(live=live, page=page, framework=framework)
    owner = user_factory(username=f"journey-{framework[:4]}")
    name, path = NAMES[framework], HOME[framework]

    # 1. Log in to MGX.
    browser_login(page, owner)
    j.shows("body", "New app", timeout=10, what="the dashboard after login")
    j.shot("dashboard")

    # 2. Create the app from the form.
    page.click("a.btn:has-text('New app')")
    page.fill("input[name=name]", name)
    page.check(f"input[name=framework][value={framework}]")
    j.shot("new-app-form")
    page.click("button:has-text('Create app')")
    page.wait_for_url(re.compile(r"/sessions/[a-z0-9-]+/"))
    j.app = App.objects.get(slug=page.url.split("/sessions/")[1].split("/")[0])
    cleanup.append(j.app)
    _clear_agent_records(j.app.slug)  # MongoDB outlives the SQL database: the slug may be used before
    assert j.app.framework == framework and j.app.name == name
    j.shows("h1", name, timeout=10, what="the new app's page")

    # 3. A chat message; the team changes the heading and the chat streams it.
    llm.add(*team_script(path, name))
    page.wait_for_selector("#chat-conn[data-state='live']")
    assert page.locator(".chat-nollm").count() == 0, "the chat says no model is configured"
    page.fill("#chat-text", "Make the home page heading friendlier")
    page.press("#chat-text", "Enter")
    j.shows(".msg-user-text", "Make the home page heading friendlier", timeout=10, what="the sent message")

    def run_state():
        run = AgentRun.objects(session=j.app.slug).order_by("-created_at").first()
        return f"run: {run.status if run else None}; model calls so far: {len(llm.requests)}"

    j.shows(".md", TEAM_HEADING, timeout=240, what="the engineer's streamed message", extra=run_state)
    j.shows("a.chat-file-link", path, timeout=30, what="the changed file in the chat")
    j.shows(".run-summary", "Done", timeout=120, what="the run's end", extra=run_state)
    assert f"<h1>{TEAM_HEADING}</h1>" in ws_selectors.file_read(app=j.app, path=path).text
    j.shot("chat-streamed")

    # 4. Open that file in the editor from the chat, change the heading, save.
    page.locator("a.chat-file-link", has_text=path).first.click()
    page.wait_for_selector(".cm-editor .cm-content")
    assert page.locator("#crumbs").inner_text().replace("\n", "") == path
    line = page.locator(".cm-line", has_text=TEAM_HEADING)
    line.wait_for()
    _select_word(page, line, "team")
    page.keyboard.type("editor")
    assert page.locator("#dirty").is_visible()
    page.keyboard.press("Control+s")
    j.shows("#save-state", "Saved", timeout=20, what="the editor's save")
    page.reload()
    page.wait_for_selector(".cm-editor .cm-content")
    j.shows(".cm-line", f"<h1>{EDITED_HEADING}</h1>", timeout=10, what="the saved file after a reload")
    j.shot("editor-saved")

    # 5. Dev: start it on the Dev tab; the preview shows the edited heading.
    j.tab("dev")
    page.click("button:has-text('Start dev server')")

    def dev_output():
        from deployments.services import dev_logs
        return f"--- the dev server's output:\n{dev_logs(app=j.app)[-3000:]}"

    j.shows("#dev-panel[data-phase='ready']", "", timeout=600, what="the Dev tab", extra=dev_output)
    page.frame_locator("#dev-panel iframe").locator("h1", has_text=EDITED_HEADING).wait_for(timeout=120_000)
    j.shot("dev-tab")
    j.heading_on(j.dev_url, EDITED_HEADING, timeout=120, what="the dev preview")
    j.shot("dev-preview")
    dev_done = time.monotonic()

    # 6. Build and deploy on the Prod tab; prod shows the edited heading.
    release1 = _build_and_deploy(j, number=1)
    j.heading_on(j.prod_url, EDITED_HEADING, timeout=60, what="prod after release #1")
    j.shot("prod-release-1")

    # 7. An app user added on the Users tab logs into prod through MGX's app login form.
    j.tab("users")
    form = page.locator("form[action$='/users/new']")
    form.locator("input[name=username]").fill("carol")
    form.locator("input[name=email]").fill("carol@example.org")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button:has-text('Add user')").click()
    j.shows("#app-users", "carol@example.org", timeout=10, what="the Users tab")
    j.shot("users-tab")
    page.goto(f"{j.prod_url}account")
    arrive(page, f"{live.url}/oauth2/apps/{j.app.slug}/login/**")
    j.shot("app-login-form")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click(f"form[action$='/apps/{j.app.slug}/login/'] button[type=submit]")
    arrive(page, f"{j.prod_url}account")
    j.shows("body", "Signed in as", timeout=30, what="prod's account page")
    assert "carol" in page.locator("body").inner_text()
    j.shot("prod-signed-in")

    # 8. The user on the Database tab, the request on the Traces tab, prod's lines on the Logs tab.
    j.tab("database")
    page.click(".db-coll[data-collection='users'] a")
    j.shows(".db-doc", "carol@example.org", timeout=20, what="the Database tab's users collection")
    j.shot("database-users")
    _traces_show_the_request(j)
    j.shot("traces-tab")
    j.tab("logs")
    prod_roles = [o for o in page.locator("#logs-target option").all_inner_texts() if o.startswith("prod")]
    assert prod_roles, f"the Logs tab offers no prod container: {page.locator('#logs-target').inner_text()}"
    # The container that serves the login (Next.js's one, FastAPI's backend) logged it.
    role = next((r for r in prod_roles if r in ("prod", "prod-backend")), prod_roles[0])
    page.select_option("#logs-target", role)
    j.shows("#logs-out .log-line", "login: carol", timeout=30, what=f"the Logs tab's {role} lines")
    j.shot("logs-prod")

    # 9. A second release with another heading, then roll back to the first from the Prod tab.
    current = ws_selectors.file_read(app=j.app, path=path).text
    # From a thread of its own, as the API would: its workspace.changed announcement refuses to
    # run in this thread, where Playwright's event loop runs.
    writer = threading.Thread(target=lambda: file_write(
        app=j.app, path=path, content=current.replace(EDITED_HEADING, RELEASE_TWO_HEADING), user=owner))
    writer.start()
    writer.join()
    assert RELEASE_TWO_HEADING in ws_selectors.file_read(app=j.app, path=path).text
    _build_and_deploy(j, number=2)
    j.heading_on(j.prod_url, RELEASE_TWO_HEADING, timeout=60, what="prod after release #2")
    j.shot("prod-release-2")
    j.tab("prod")
    page.locator(f"tr.release[data-release='{release1.pk}'] button:has-text('Roll back to this')").click()
    j.shows("#prod-panel[data-status='live'] .dev-bar", "Release #3", timeout=300, what="the Prod tab after the roll back",
            extra=lambda: _release_state(j.app))
    j.shows("tr.release", "(rollback)", timeout=10, what="the releases table")
    j.shot("prod-tab-rolled-back")
    j.heading_on(j.prod_url, EDITED_HEADING, timeout=60, what="prod after rolling back to release #1")
    j.shot("prod-rolled-back")
    print(f"\n[journey] {framework}: {dev_done - started:.0f} s to a dev preview, "
          f"{time.monotonic() - started:.0f} s in all")


def _select_word(page, line, word):
    """Select `word` in an editor line by double-clicking it (CodeMirror selects a word)."""
    box = line.evaluate("""(el, word) => {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const i = n.data.indexOf(word);
            if (i >= 0) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + word.length);
                          const b = r.getBoundingClientRect(); return {x: b.x + b.width / 2, y: b.y + b.height / 2}; }
        }
        return null; }""", word)
    assert box, f"{word!r} is not in the editor line {line.inner_text()!r}"
    page.mouse.dblclick(box["x"], box["y"])


def _release_state(app):
    builds = [(b.number, b.status, b.message) for b in Build.objects.filter(app=app).order_by("-number")[:2]]
    releases = [(r.number, r.status, r.message, r.last_log[-1500:]) for r in Release.objects.filter(app=app).order_by("-number")[:2]]
    return f"builds: {builds}\nreleases: {releases}"


def _build_and_deploy(j, *, number):
    """Build, then deploy the newest build, on the Prod tab; returns the live release."""
    page = j.page
    j.tab("prod")
    page.click("#prod-panel button:has-text('Build only')")
    j.shows("#prod-panel h3", f"Build #{number}", timeout=30, what="the Prod tab after Build")
    j.shows("#prod-panel .phase-badge", "Succeeded", timeout=1500, what=f"build #{number}",
            extra=lambda: _release_state(j.app))
    j.shot(f"prod-built-{number}")
    page.click(f"#prod-panel button:has-text('Deploy build #{number}')")
    j.shows("#prod-panel[data-status='live'] .dev-bar", f"Release #{number}", timeout=300,
            what=f"release #{number}", extra=lambda: _release_state(j.app) + "\nevents heard:\n" + "\n".join(j.heard[-30:]))
    j.shot(f"prod-tab-live-{number}")
    return Release.objects.get(app=j.app, number=number)


def _traces_show_the_request(j):
    """The login's request to prod reaches MGX's receiver and its trace shows on the Traces tab."""
    from observability.selectors import traces_list

    deadline = time.monotonic() + 60
    names = []
    while time.monotonic() < deadline:
        names = [t["name"] for t in traces_list(app=j.app.slug)]
        if any("account" in n or "callback" in n for n in names):
            break
        time.sleep(0.5)
    wanted = next((n for n in names if "account" in n or "callback" in n), None)
    assert wanted, f"no trace of the login's requests reached MGX; traces: {names}"
    j.tab("traces")
    j.shows(".trace-row", wanted, timeout=20, what="the Traces tab")
