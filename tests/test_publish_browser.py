"""Shipping as one motion, in Chromium at 1440×900 (issue 27): Publish builds and deploys, a failed
build deploys nothing and says so, a running build shows its timer and step in the Prod tab, the
session's header and the dashboard, the Builds list says how long each took, Deploy names the
build it puts live and asks when newer builds failed, the owner logs into their own app with
their MGX account, and an admin finds every user's apps. Screenshots go to the test artifacts."""
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from deployments import builds
from deployments.models import Build, Release
from deployments.tests.test_production import BROKEN_DOCKERFILE, TINY_DOCKERFILE, settled_build, settled_release
from tests.artifacts import shots_folder
from workspaces.services import file_write

pytestmark = pytest.mark.django_db(transaction=True)
# A build whose step runs long enough to be seen running (a bounded sleep, then it succeeds).
SLOW_DOCKERFILE = TINY_DOCKERFILE.replace('USER 1000:1000\n', 'RUN echo compiling && sleep 8 && echo done\nUSER 1000:1000\n')


def _shots() -> Path:
    return shots_folder("publish")


def test_publish_builds_then_deploys_and_a_failed_build_deploys_nothing(live, wide, runtime_image, app_factory,
                                                                       user_factory, browser_login):
    page = wide
    owner = user_factory(username="shipper")
    app = app_factory(owner=owner, name="Ship It", framework="nextjs")
    file_write(app=app, path="Dockerfile", content=SLOW_DOCKERFILE, user=owner)
    file_write(app=app, path="page.html", content="<h1>first version</h1>\n", user=owner)
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=prod")
    expect(page.locator("#session-badges")).to_contain_text("Prod: not deployed")

    page.locator("#prod-panel").get_by_role("button", name="Publish").click()
    # While it builds: the timer counts in the Prod tab and the header, with the step it is at.
    bar = page.locator("#prod-panel .dev-bar")
    expect(bar).to_contain_text("Building…", timeout=60_000)
    expect(bar).to_contain_text("RUN echo compiling", timeout=60_000)
    expect(page.locator("#session-badges")).to_contain_text("Building…")
    timer = page.locator("#prod-panel .dev-bar .timer")
    first = timer.inner_text()
    expect(timer).not_to_have_text(first, timeout=5_000)  # it counts, once a second
    assert re.fullmatch(r"\d+:\d\d", timer.inner_text())
    page.screenshot(path=str(_shots() / "prod-building.png"), full_page=True)

    # Then, by itself, live: the build succeeded and was deployed (Publish), one click in all.
    expect(bar).to_contain_text("Live", timeout=300_000)
    expect(page.locator("#session-badges")).to_contain_text("Prod: live")
    build = Build.objects.get(app=app, number=1)
    assert build.status == "succeeded" and build.publish
    assert Release.objects.get(app=app, status="live").build_id == build.pk
    row = page.locator("table.builds tr[data-build='%d']" % build.pk)
    expect(row).to_contain_text("Succeeded · publish")
    expect(row.locator(".duration")).to_have_text(re.compile(r"\d+:\d\d"))
    page.screenshot(path=str(_shots() / "prod-live.png"), full_page=True)

    # A broken version: Publish builds it, the build fails, nothing is deployed, and it says so.
    file_write(app=app, path="Dockerfile", content=BROKEN_DOCKERFILE, user=owner)
    page.locator("#prod-panel").get_by_role("button", name="Publish").click()
    failed = page.locator("#prod-panel .build-failed-alert")
    expect(failed).to_contain_text("Build #2 failed", timeout=300_000)
    expect(failed).to_contain_text("Nothing was deployed: release #1 keeps serving")
    expect(bar).to_contain_text("Live")
    assert Release.objects.get(app=app, status="live").build_id == build.pk

    # Deploy names the build it would put live, and asks first, saying why.
    deploy = page.locator("#prod-panel").get_by_role("button", name="Deploy build #1")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    deploy.click()
    expect(bar).to_contain_text("Live")
    for _ in range(50):
        if asked:
            break
        page.wait_for_timeout(100)
    assert asked and "build #2 failed" in asked[0] and "Deploy build #1" in asked[0], asked
    assert Release.objects.filter(app=app).count() == 1  # dismissed: nothing was deployed

    # The dashboard tells the truth about production: live, the address, who deployed and when.
    page.goto(f"{live.url}/")
    entry = page.locator("li.app-row", has_text="Ship It")
    expect(entry).to_contain_text("Prod: live")
    expect(entry).to_contain_text(f"/apps/{app.slug}/prod/")
    expect(entry).to_contain_text("by shipper")
    page.screenshot(path=str(_shots() / "dashboard.png"), full_page=True)


def test_the_owner_logs_into_their_own_app_and_a_stranger_is_told_whom_to_ask(live, wide, app_factory, user_factory):
    page = wide
    owner = user_factory(username="maker", password="makers own password")
    user_factory(username="wanderer", password="wanderers password")
    app = app_factory(owner=owner, name="Own App")
    login = f"{live.url}/oauth2/apps/{app.slug}/login/"

    page.goto(login)
    expect(page.locator("h1")).to_have_text("Log in to Own App")
    expect(page.locator(".auth-app")).to_contain_text("an app by maker")
    page.fill("input[name=username]", "wanderer")
    page.fill("input[name=password]", "wanderers password")
    page.click("form button.btn-primary")
    expect(page.locator(".alert-error")).to_contain_text("The user name or password is not correct")
    expect(page.locator(".access-hint")).to_contain_text("ask maker to add you on the app's Users tab")

    page.fill("input[name=username]", "maker")
    page.fill("input[name=password]", "makers own password")
    page.click("form button.btn-primary")
    page.wait_for_url(re.compile(rf".*/apps/{app.slug}/prod/.*"))  # logged in: back to the app
    assert "not correct" not in page.content()


def test_auto_publish_publishes_a_new_commit_once_it_has_settled(live, runtime_image, app_factory, user_factory):
    from datetime import timedelta

    from django.utils import timezone

    owner = user_factory(username="autopilot")
    app = app_factory(owner=owner, name="Auto Ship")
    file_write(app=app, path="Dockerfile", content=TINY_DOCKERFILE, user=owner)
    file_write(app=app, path="page.html", content="<h1>auto</h1>\n", user=owner)
    http = live.login("autopilot", owner.raw_password)
    api = f"{live.url}/api/apps/{app.slug}/prod"
    switched = http.put(f"{api}/auto-publish", json={"enabled": True}, headers={"X-CSRFToken": http.cookies["csrftoken"]})
    assert switched.status_code == 200 and switched.json() == {"enabled": True}
    assert http.get(f"{api}/status").json()["auto_publish"] is True

    # Not yet: the newest commit is younger than MGX_AUTO_PUBLISH_DELAY (a burst of saves).
    assert builds.auto_publish(now=timezone.now()) == []
    # Settled: published once (by this pass or the worker's own beat), named after who switched
    # it on; another pass starts nothing more for the same commit.
    later = timezone.now() + timedelta(seconds=settings.MGX_AUTO_PUBLISH_DELAY + 5)
    builds.auto_publish(now=later)
    made = Build.objects.get(app=app)
    assert made.publish and made.created_by == "auto-publish (autopilot)"
    assert builds.auto_publish(now=later) == []
    assert settled_build(made).status == "succeeded"
    assert settled_release(Release.objects.get(app=app, build=made)).status == "live"
    # Off: a new commit is not published.
    assert http.put(f"{api}/auto-publish", json={"enabled": False},
                    headers={"X-CSRFToken": http.cookies["csrftoken"]}).json() == {"enabled": False}
    file_write(app=app, path="page.html", content="<h1>auto, again</h1>\n", user=owner)
    assert builds.auto_publish(now=later + timedelta(hours=1)) == []
    assert Build.objects.filter(app=app).count() == 1


def test_an_admin_finds_every_users_apps(live, wide, app_factory, user_factory, browser_login):
    page = wide
    admin = user_factory(username="overseer", is_staff=True)
    app_factory(owner=user_factory(username="ann"), name="Anns Shop")
    app_factory(owner=user_factory(username="ben"), name="Bens Blog")
    browser_login(page, admin)
    page.get_by_role("link", name="All apps").click()
    rows = page.locator("table.all-apps tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table.all-apps")).to_contain_text("ann")
    page.fill("input[name=q]", "blog")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bens Blog")
    expect(rows.first).to_contain_text("ben")
    page.screenshot(path=str(_shots() / "all-apps.png"), full_page=True)
