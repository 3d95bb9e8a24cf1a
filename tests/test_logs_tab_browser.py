"""The Logs and Terminal tabs in Chromium, on a real (cheap) dev container: recent lines on open,
a line printed later arrives live, filter and pause work, the terminal draws the console with
its colours and types nothing anywhere; the Dev tab shows the SSH command."""
import pytest

from containers.frameworks import DESCRIPTORS, cheap_dev
from deployments import services
from deployments.tests.test_logs_terminal_ssh import CHEAP_DEV, say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cheap_app(runtime_image, app_factory, user_factory, monkeypatch):
    owner = user_factory(username="logviewer")
    app = app_factory(owner=owner, name="Log Demo", framework="nextjs")
    monkeypatch.setitem(DESCRIPTORS, "nextjs", cheap_dev(DESCRIPTORS["nextjs"], CHEAP_DEV))
    assert services.dev_boot(app=app).phase == "ready"
    yield app
    services.dev_stop(app=app)


def test_logs_tab_tails_filters_pauses_and_the_terminal_is_read_only(live, page, cheap_app, browser_login):
    browser_login(page, cheap_app.owner)
    page.goto(f"{live.url}/sessions/{cheap_app.slug}/?tab=logs")
    out = page.locator("#logs-out")
    out.locator(".log-line", has_text="cheap dev server up").wait_for(timeout=20_000)
    say(cheap_app, "GET /api/items 200\nGET /api/users 500 boom\n")
    out.locator(".log-line", has_text="GET /api/users 500 boom").wait_for(timeout=20_000)
    assert page.locator("#logs-state").inner_text() == "Live"

    page.fill("#logs-filter", "boom")
    assert [line.inner_text().split(" ", 2)[-1] for line in out.locator(".log-line").all()] == ["GET /api/users 500 boom"]
    page.fill("#logs-filter", "")
    page.click("#logs-pause")
    say(cheap_app, "while paused\n")
    page.wait_for_selector("#logs-state:has-text('1 new lines')", timeout=20_000)
    assert out.locator(".log-line", has_text="while paused").count() == 0
    page.click("#logs-pause")
    assert out.locator(".log-line", has_text="while paused").count() == 1
    page.uncheck("#logs-ts")
    assert out.locator(".log-ts").count() == 0
    assert page.locator("#logs-download").get_attribute("href").endswith("/logs/dev/download")
    page.screenshot(path="/tmp/i13-logs-tab.png")
    downloaded = page.request.get(f"{live.url}/sessions/{cheap_app.slug}/logs/dev/download")
    assert downloaded.ok and "while paused" in downloaded.text()

    page.click("nav.tabs a:has-text('Terminal')")
    page.locator("#terminal .xterm-rows", has_text="GET /api/users 500 boom").wait_for(timeout=20_000)
    say(cheap_app, "\x1b[32mgreen light\x1b[0m\n")
    page.locator("#terminal .xterm-rows", has_text="green light").wait_for(timeout=20_000)
    page.click("#terminal-screen")
    page.keyboard.type("touch /workspace/typed\n")
    page.screenshot(path="/tmp/i13-terminal-tab.png")
    assert not (services.workspace_for(cheap_app).root / "typed").exists()

    page.click("nav.tabs a:has-text('Dev')")
    page.wait_for_selector(".ssh-command")
    assert page.locator(".ssh-command").inner_text().startswith("ssh -p ")
    page.screenshot(path="/tmp/i13-dev-ssh.png", full_page=True)

    services.dev_stop(app=cheap_app)
    page.click("nav.tabs a:has-text('Logs')")
    page.wait_for_selector("#logs[data-state='end']", timeout=20_000)
    assert "not running" in page.locator("#logs-state").inner_text()
