"""The Dev tab in Chromium: start the dev server, watch the phases arrive live over the
websocket, see the app in the preview iframe, stop it."""
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.timeout(600)  # a first start installs packages: minutes on a loaded machine
def test_start_watch_progress_preview_and_stop(live, page, runtime_image, app_factory, user_factory, browser_login):
    owner = user_factory(username="erin")
    app = app_factory(owner=owner, name="Preview Demo", framework="nextjs")
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    assert "The dev server is not running." in page.locator("#dev-panel").inner_text()

    page.click("button:has-text('Start dev server')")
    # No reload: the phase changes arrive over the websocket and HTMX re-renders the panel.
    page.wait_for_selector("#dev-panel[data-phase='installing'], #dev-panel[data-phase='starting'], #dev-panel[data-phase='ready']",
                           timeout=120_000)
    try:
        page.wait_for_selector("#dev-panel[data-phase='ready']", timeout=240_000)
    except Exception as exc:
        from deployments.services import dev_logs
        raise AssertionError(f"the Dev tab never showed ready; it shows:\n{page.locator('#dev-panel').inner_text()}"
                             f"\n--- the dev server's output now:\n{dev_logs(app=app)[-3000:]}") from exc
    assert [s.inner_text() for s in page.locator(".steps .step-done").all()] == [
        "Creating container", "Installing dependencies", "Starting dev server", "Ready"]
    frame = page.frame_locator("#dev-panel iframe")
    frame.locator("h1").wait_for(timeout=120_000)
    assert frame.locator("h1").inner_text() == "Preview Demo"
    page.screenshot(path=str(live.layout.var_dir / "dev-tab.png"))

    page.goto(f"{live.url}/")
    assert "Dev: Ready" in page.locator(".app-row", has_text="Preview Demo").inner_text()
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    page.click("#dev-panel button:has-text('Stop')")
    page.wait_for_selector("#dev-panel[data-phase='stopped']", timeout=60_000)
