"""MGX's pages under their Content-Security-Policy in headless Chromium: the chat, the editor,
the tabs and the Dev preview (framed from the apps origin) work and nothing is blocked."""
import pytest

from deployments.gateway import gateway, route_for
from deployments.models import DevEnvironment

from .upstream import Upstream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(user_factory):
    return user_factory(username="cspowner")


@pytest.fixture
def app(app_factory, owner):
    upstream = Upstream().start()
    app = app_factory(owner=owner, name="Csp Demo")
    gateway().set_route(route_for(slug=app.slug, stage="dev", upstream=f"127.0.0.1:{upstream.port}"))
    DevEnvironment.objects.update_or_create(app=app, defaults={"phase": DevEnvironment.Phase.READY, "host_port": upstream.port})
    yield app
    gateway().delete_route(f"{app.slug}-dev")
    upstream.stop()


def test_the_session_page_runs_under_its_csp_and_frames_the_dev_preview(live, page, app, owner, browser_login):
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e =>"
                         " console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/")
    page.wait_for_selector("#chat-form")  # the chat's script ran

    page.click("a.tab:has-text('Files')")
    page.wait_for_selector("a.tab.active:has-text('Files')")  # tab switching (was an inline hx-on)
    page.click("a.file-link[data-path='README.md']")
    page.wait_for_selector(".cm-editor .cm-content")

    page.click("a.tab:has-text('Dev')")
    frame = page.wait_for_selector(f"iframe[src='{live.apps_url}/apps/{app.slug}/dev/']")
    content = frame.content_frame()
    content.wait_for_selector("text=/apps/")  # the upstream's JSON, shown inside MGX's page
    assert f"/apps/{app.slug}/dev/" in content.inner_text("body")
    assert violations == []
