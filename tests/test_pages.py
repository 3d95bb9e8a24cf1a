"""Pages as a person sees them, in headless Chromium driven by Playwright."""
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_then_dashboard_shows_apps_and_live_service_status(live, page, user_factory):
    user = user_factory(username="carol")

    page.goto(f"{live.url}/")
    assert page.url.startswith(f"{live.url}/accounts/login/")  # anonymous visitors are sent to log in
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", "not her password")
    page.click("button[type=submit]")
    assert page.locator(".alert-error").is_visible()

    page.fill("input[name=password]", user.raw_password)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Your apps')")
    assert page.locator(".usermenu .username").inner_text() == "carol"
    assert "No apps yet." in page.locator(".empty").inner_text()

    # The system panel is filled in by HTMX after the page loads, from the same checks as /healthz.
    page.wait_for_selector("#system-status .status-list", timeout=15000)
    names = page.locator("#system-status .status-name").all_inner_texts()
    assert names == ["Database", "MongoDB", "Redis", "Docker", "Celery"]
    # The stylesheet is served (a styled top bar, not raw HTML).
    assert page.eval_on_selector(".topbar", "e => getComputedStyle(e).backgroundColor") == "rgb(17, 24, 39)"

    page.click("text=Log out")
    page.wait_for_selector("h1:has-text('Log in to MGX')")


def test_no_template_comment_shows_on_a_page_as_text():
    """Django's {# #} ends on its line: one that spans lines is printed as text on the page (the Dev
    tab showed its panel's comment, once more after each re-render)."""
    from pathlib import Path

    from django.conf import settings

    leaking = [f"{path.relative_to(settings.BASE_DIR)}:{n}"
               for path in sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if "{#" in line and "#}" not in line.split("{#", 1)[1]]
    assert not leaking, f"multi-line {{# #}} comments (use {{% comment %}}): {leaking}"


def test_both_templates_carry_the_same_preview_script():
    """Each template is copied whole into an app's workspace, so each carries its own copy of the
    dev-only preview script MGX's page talks to (static/js/preview.js): they must not drift apart."""
    from pathlib import Path

    from django.conf import settings

    base = Path(settings.BASE_DIR, "app_templates")
    vite = (base / "fastapi_vite/frontend/mgx-dev/preview.js").read_text()
    assert "startPreview" in vite
    assert (base / "nextjs/lib/mgx-dev/preview.js").read_text() == vite
