"""The Prod panel re-renders itself on status events (HTMX, hx-trigger from:body). A second event
that arrives while the refresh for the first is still in flight must not be lost: the journey
test saw the Prod tab stay on "Starting" for minutes while the release was live, because the
in-flight refresh (rendered before the switch) replaced the panel and HTMX dropped the refresh
queued on the replaced element."""
import pytest
from playwright.sync_api import expect

from deployments.models import Build, Release

pytestmark = pytest.mark.django_db(transaction=True)

DISPATCH = "document.body.dispatchEvent(new CustomEvent('mgx:release-status', {detail: {}}))"


def test_a_status_event_during_a_panel_refresh_still_shows_the_newest_state(live, page, app_factory, user_factory,
                                                                            browser_login):
    owner = user_factory(username="racer")
    app = app_factory(owner=owner, name="Race Prod")
    build = Build.objects.create(app=app, number=1, commit="a" * 40, status="succeeded")
    release = Release.objects.create(app=app, build=build, number=1, status="starting")
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=prod")
    expect(page.locator("#prod-panel .dev-bar")).to_contain_text("Starting")

    # The first refresh is answered with the panel as it is now, but only after the release
    # went live and its event arrived (as when the worker switches during a refresh).
    held = []

    def hold_first(route):
        if not held:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/prod/panel", hold_first)
    page.evaluate(DISPATCH)
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)  # polling for the intercepted request, with a bound
    assert held, "the first event did not refresh the panel"
    Release.objects.filter(pk=release.pk).update(status="live", message="Live")
    page.evaluate(DISPATCH)
    route, stale = held[0]
    try:
        route.fulfill(response=stale)
    except Exception:
        pass  # the page already gave up on it (aborted): nothing to answer
    expect(page.locator("#prod-panel .dev-bar")).to_contain_text("Live", timeout=10_000)
    expect(page.locator("#prod-panel .dev-bar")).to_contain_text("Release #1")
