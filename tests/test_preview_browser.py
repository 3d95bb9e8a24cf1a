"""The Dev preview as a pointer (issue 28), in Chromium on the live stack with real dev containers,
one per template: the template's dev-only script and MGX's static/js/preview.js talk over
postMessage, origin-checked both ways.

- Trust: a report from MGX's own window or from another window of the apps origin is dropped;
  a select command from a window that is not MGX's page does nothing in the preview; a report's
  text with markup in it shows as text.
- fastapi_vite: an edit keeps a counter's state (React Fast Refresh), a panel re-render keeps the
  page (a half-typed field survives), a component that throws turns the Dev badge red and its fix
  green again, Select names the file and line of a button.
- nextjs: Select names app/page.tsx and the button's line (its compile errors:
  tests/test_fix_it_browser.py).
- Neither template's production output carries the script: each template's own test, run in
  its dev container (a real `vite build` grepped; Next's config for a build and its layout).
Screenshots go under var/test-artifacts/preview/."""
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from deployments import services
from deployments.tests.test_dev_containers import wait_for_phase
from tests.artifacts import shots_folder
from tests.test_journey_browser import cleanup, llm  # noqa: F401 (fixtures: a model is configured, so the chat box is enabled)
from workspaces import selectors as ws_selectors
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "/dev/page-report"
MARKUP = "<img src=x onerror=\"document.title='pwned'\">"


def _shots() -> Path:
    return shots_folder("preview")


def _mgx_origin() -> str:
    return re.match(r"https?://[^/]+", settings.MGX_PUBLIC_URL)[0]


def _started(app) -> None:
    services.dev_start(app=app)
    dev = wait_for_phase(app, {"ready", "failed"}, timeout=900)
    assert dev.phase == "ready", dev.last_log


def _open_dev_tab(page, live, app):
    """The Dev tab with the preview loaded; the reports MGX's page forwards are collected."""
    reports: list[str] = []
    page.on("request", lambda r: reports.append(r.post_data or "") if r.url.endswith(REPORT) else None)
    with page.expect_request(lambda r: r.url.endswith(REPORT), timeout=120_000):  # its clean load: "ok"
        page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    frame = page.locator("#dev-preview-frame").element_handle().content_frame()
    assert "{#" not in page.locator("main").inner_text()  # no template text on the page
    return frame, reports


def _line_of(app, path: str, needle: str) -> int:
    lines = ws_selectors.file_read(app=app, path=path).text.splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def _pick(page, frame, target, shot: str) -> str:
    """Select on, hover, (screenshot), click: the chat tab opens with the reference in its box."""
    page.get_by_role("button", name="Select").click()
    expect(page.locator("#dev-panel .dev-select")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#dev-panel .select-hint")).to_be_visible()
    target.hover()
    expect(frame.locator("[data-mgx-select]").first).to_be_attached()
    page.screenshot(path=str(_shots() / f"{shot}-select.png"))
    target.click()
    page.wait_for_url(re.compile(r".*tab=chat"))
    box = page.locator("#chat-text")
    expect(box).to_have_value(re.compile(r"^\[in the preview: "))
    expect(box).to_be_focused()
    page.screenshot(path=str(_shots() / f"{shot}-chat.png"))
    return box.input_value()


HOME = "frontend/src/pages/Home.jsx"
COUNTER = '      <button type="button" className="counter" onClick={() => setCount((n) => n + 1)}>Count: {count}</button>\n'


@pytest.mark.timeout(1500)
def test_fastapi_vite_preview_reports_keeps_state_and_points(live, wide, llm, runtime_image, app_factory, user_factory,
                                                              browser_login, cleanup):
    page = wide
    owner = user_factory(username="pointer-vite")
    app = app_factory(owner=owner, name="Pointer Vite", framework="fastapi_vite")
    cleanup.append(app)
    _started(app)
    # The production build has none of it: the template's own test builds it for real and greps it.
    built = services.dev_exec(app=app, command="cd frontend && node --test tests/preview.test.mjs", timeout=300)
    assert built.exit_code == 0, built.stdout[-3000:] + built.stderr[-3000:]

    browser_login(page, owner)
    frame, reports = _open_dev_tab(page, live, app)
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready")
    field = frame.locator("input[name=username]")
    field.fill("half typed")

    # --- Trust. MGX's own window, and another window of the apps origin, are not the preview.
    reports.clear()
    page.evaluate("() => window.postMessage({mgx: 'preview', type: 'report', kind: 'error', message: 'forged by MGX itself'}, '*')")
    page.evaluate("(src) => { const f = document.createElement('iframe'); f.id = 'decoy'; f.src = src; document.body.append(f); }",
                  f"{live.apps_url}/apps/{app.slug}/dev/api/healthz")
    decoy = page.wait_for_selector("#decoy").content_frame()
    decoy.wait_for_load_state()
    decoy.evaluate("(mgx) => window.parent.postMessage({mgx: 'preview', type: 'report', kind: 'error', "
                   "message: 'forged by another window'}, mgx)", _mgx_origin())
    # A select command from anyone but MGX's page does nothing in the preview: not from another
    # window of the apps origin, not from the page itself.
    decoy.evaluate("() => window.parent.frames[0].postMessage({mgx: 'studio', type: 'select', on: true}, '*')")
    frame.evaluate("() => window.postMessage({mgx: 'studio', type: 'select', on: true}, '*')")
    # The preview itself is heard, and what it says stays text.
    with page.expect_request(lambda r: r.url.endswith(REPORT)):
        frame.evaluate("([mgx, text]) => window.parent.postMessage({mgx: 'preview', type: 'report', kind: 'error', "
                       "message: text}, mgx)", [_mgx_origin(), MARKUP])
    assert len(reports) == 1 and "forged" not in reports[0] and "onerror" in reports[0], reports
    expect(page.locator("#dev-panel .dev-health-error")).to_have_text("Error", timeout=30_000)
    expect(page.locator("#dev-panel .app-error pre")).to_contain_text(MARKUP)
    assert page.locator("#dev-panel img, #session-badges img").count() == 0 and page.title() != "pwned"
    expect(frame.locator("[data-mgx-select]")).to_have_count(0)
    page.screenshot(path=str(_shots() / "vite-report-as-text.png"))
    with page.expect_request(lambda r: r.url.endswith(REPORT)):
        frame.evaluate("(mgx) => window.parent.postMessage({mgx: 'preview', type: 'report', kind: 'ok'}, mgx)", _mgx_origin())
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready", timeout=30_000)
    page.locator("#decoy").evaluate("f => f.remove()")
    # Two re-renders of the panel later, the preview is the same page: the field kept its text.
    expect(field).to_have_value("half typed")

    # --- Hot updates keep state (React Fast Refresh).
    original = ws_selectors.file_read(app=app, path=HOME).text
    anchor = "      {home === null ? (\n"
    with_counter = original.replace("  const [home, setHome] = useState(null);\n",
                                    "  const [home, setHome] = useState(null);\n  const [count, setCount] = useState(0);\n"
                                    ).replace(anchor, COUNTER + anchor)
    file_write(app=app, path=HOME, content=with_counter, user=owner)
    counter = frame.locator("button.counter")
    expect(counter).to_have_text("Count: 0", timeout=60_000)
    for _ in range(3):
        counter.click()
    expect(counter).to_have_text("Count: 3")
    # Adding a hook remounted the component (React resets state when hooks change): type again.
    field.fill("half typed")
    file_write(app=app, path=HOME, content=with_counter.replace("Count: {count}", "Clicks: {count}"), user=owner)
    expect(counter).to_have_text("Clicks: 3", timeout=60_000)  # the edit arrived, the count stayed
    expect(field).to_have_value("half typed")  # no reload

    # --- A component that throws: red with its words, then green once it is fixed.
    broken = with_counter.replace("  const user = home?.user;\n",
                                  '  const user = home?.user;\n  if (count >= 0) throw new Error("Home broke on purpose");\n')
    file_write(app=app, path=HOME, content=broken, user=owner)
    started = time.monotonic()
    expect(page.locator("#dev-panel .dev-health-error")).to_have_text("Error", timeout=60_000)
    print(f"\n[preview] fastapi_vite: red {time.monotonic() - started:.1f}s after the throwing edit was saved")
    expect(page.locator("#dev-panel .app-error pre")).to_contain_text("Home broke on purpose")
    expect(page.locator("#session-badges")).to_contain_text("Dev: error")
    page.screenshot(path=str(_shots() / "vite-red.png"))
    file_write(app=app, path=HOME, content=with_counter, user=owner)
    started = time.monotonic()
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready", timeout=60_000)
    print(f"[preview] fastapi_vite: green {time.monotonic() - started:.1f}s after the fix was saved")
    expect(frame.locator("button.counter")).to_be_visible()

    # --- Select: Escape cancels; a pick names the file and line, and the click does nothing else.
    page.get_by_role("button", name="Select").click()
    expect(page.locator("#dev-panel .dev-select")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")
    expect(page.locator("#dev-panel .dev-select")).to_have_attribute("aria-pressed", "false")
    expect(frame.locator("[data-mgx-select]")).to_have_count(0)
    frame.locator("button.counter").click()
    expect(frame.locator("button.counter")).to_have_text("Count: 1")  # Select is off: clicks act again (the fix remounted it)
    line = _line_of(app, HOME, 'className="counter"')
    said = _pick(page, frame, frame.locator("button.counter"), "vite")
    assert said == f'[in the preview: <button> "Count: 1" — {HOME}:{line} — div#root > main > button.counter] ', said


@pytest.mark.timeout(1200)
def test_nextjs_select_names_the_page_file_and_line(live, wide, llm, runtime_image, app_factory, user_factory,
                                                     browser_login, cleanup):
    page = wide
    owner = user_factory(username="pointer-next")
    app = app_factory(owner=owner, name="Pointer Next", framework="nextjs")
    cleanup.append(app)
    _started(app)
    # Next's config for a build, and the layout's condition, leave the script out of production.
    checked = services.dev_exec(app=app, command="node --test tests/config.test.mjs", timeout=120)
    assert checked.exit_code == 0, checked.stdout[-3000:] + checked.stderr[-3000:]

    browser_login(page, owner)
    frame, _ = _open_dev_tab(page, live, app)
    expect(page.locator("#dev-panel .phase-badge")).to_have_text("Ready")
    line = _line_of(app, "app/page.tsx", '<button type="submit">Log in</button>')
    said = _pick(page, frame, frame.get_by_role("button", name="Log in"), "nextjs")
    assert said.startswith(f'[in the preview: <button> "Log in" — app/page.tsx:{line} — '), said
    assert said.endswith(" > form > button] "), said
