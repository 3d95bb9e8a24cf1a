"""Issue 11's acceptance, per template, on the real stack: an owner makes the app and adds an app
user on its Users tab, starts dev, and in Chromium the app user logs in through MGX's app login
form on the apps origin and lands on the app's protected page. The app's own database holds the
user, and the app's telemetry reaches MGX's own OTLP receiver and its Traces tab. Then the bad input: a
forged state, a replayed code, another app's user (both login forms) — each refused by the
template with a clear page — and a token signed by another key, refused by the template's own
test suite run inside the dev container."""
import time

import pymongo
import pytest
from django.conf import settings

from accounts.services import app_member_create
from deployments import services
from deployments.models import DevEnvironment

pytestmark = pytest.mark.django_db(transaction=True)
Phase = DevEnvironment.Phase
PASSWORD = "a long app password 42"

TEMPLATES = {
    "nextjs": {"health": "healthz", "self_test": "npm test"},
    "fastapi_vite": {"health": "api/healthz",
                     "self_test": "cd backend && .venv/bin/python -m pytest -q -p no:cacheprovider"},
}


def arrive(page, url_pattern, timeout=60_000):
    """Wait for the browser to land on `url_pattern`; if it does not, say where it is instead."""
    try:
        page.wait_for_url(url_pattern, timeout=timeout)
    except Exception as exc:
        raise AssertionError(f"expected {url_pattern}, at {page.url}:\n{page.locator('body').inner_text()[:2000]}") from exc


def wait_ready(app, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dev = DevEnvironment.objects.filter(app=app).first()  # made by the click's request
        if dev and dev.phase in (Phase.READY, Phase.FAILED):
            assert dev.phase == Phase.READY, f"{dev.message}\n{dev.last_log}"
            return dev
        time.sleep(1)
    raise AssertionError(f"dev server not ready after {timeout}s")


@pytest.mark.parametrize("framework", list(TEMPLATES))
def test_an_app_user_logs_in_with_mgx_lands_in_the_apps_database_and_the_app_reports_traces(
        framework, live, page, runtime_image, app_factory, user_factory, browser_login):
    owner = user_factory(username=f"maker-{framework[:4]}")
    app = app_factory(owner=owner, name=f"Shop {framework[:4]}", framework=framework)
    other = app_factory(owner=owner, name=f"Elsewhere {framework[:4]}", framework=framework)
    app_member_create(app=other, username="mallory", password=PASSWORD)
    browser_login(page, owner)  # the owner's MGX login opens the dev preview

    # The owner adds the app's user on the Users tab.
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=users")
    form = page.locator("form[action$='/users/new']")
    form.locator("input[name=username]").fill("carol")
    form.locator("input[name=email]").fill("carol@example.org")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button:has-text('Add user')").click()
    page.locator("#app-users", has_text="carol@example.org").wait_for()

    page.goto(f"{live.url}/sessions/{app.slug}/?tab=dev")
    page.click("button:has-text('Start dev server')")
    dev = wait_ready(app)
    # A new app's packages come from MGX's dev image, not the registry: npm and pip find them
    # all there (the cold start takes seconds, bench/dev_start.py).
    assert "Copying the template's packages from MGX's dev image" in dev.last_log, dev.last_log
    assert "up to date" in dev.last_log and "added " not in dev.last_log, dev.last_log
    if framework == "fastapi_vite":
        assert "Copying the template's Python packages from MGX's dev image" in dev.last_log, dev.last_log
    base = f"{live.apps_url}/apps/{app.slug}/dev"
    # A dev server compiles a route on its first request: minutes on a loaded 2-core machine.
    assert page.request.get(f"{base}/{TEMPLATES[framework]['health']}", timeout=180_000).json() == {"status": "ok"}
    assert page.request.get(f"{base}/api/me", timeout=180_000).status == 401

    # The protected page sends the visitor to MGX's login form for this app, and back.
    callbacks = []
    page.on("request", lambda r: callbacks.append(r.url) if "/auth/callback?" in r.url else None)
    page.goto(f"{base}/account")
    arrive(page, f"{live.url}/oauth2/apps/{app.slug}/login/**")
    state_cookies = [c for c in page.context.cookies() if c["domain"] in ("127.0.0.1", "localhost")
                     and c["path"].startswith(f"/apps/{app.slug}/dev")]
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click(f"form[action$='/apps/{app.slug}/login/'] button[type=submit]")
    arrive(page, f"{base}/account")
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    assert "carol" in page.locator("body").inner_text()
    me = page.request.get(f"{base}/api/me").json()
    assert me["username"] == "carol" and me["email"] == "carol@example.org"

    # The user is in the app's own database, keyed by the token's subject.
    with pymongo.MongoClient(settings.MGX_APPS_MONGO_URL, serverSelectionTimeoutMS=5000) as store:
        stored = store[f"app_{app.slug}"]["users"].find_one({"username": "carol"})
    assert stored and stored["sub"] == me["sub"] and stored["email"] == "carol@example.org"

    # Its traces reach MGX's own receiver (the endpoint MGX gave it, with its ingest token) and
    # show on its Traces tab.
    from observability.selectors import spans_of, traces_list

    page.goto(f"{base}/")
    deadline = time.monotonic() + 60
    while not spans_of(app=app.slug) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not spans_of(app=app.slug):
        raise AssertionError(f"no span from {app.slug} reached MGX's receiver\n--- the dev server's output:\n"
                             f"{services.dev_logs(app=app)[-4000:]}")
    assert all(s["service"] == app.slug for s in spans_of(app=app.slug))
    assert not spans_of(app=other.slug)
    root = traces_list(app=app.slug)[0]["name"]
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=traces")
    page.locator(".trace-row", has_text=root).first.wait_for()

    # A forged state: a clear page, nobody logged in.
    forged = page.goto(f"{base}/auth/callback?code=anything&state=forged")
    assert forged.status == 400 and "not valid any more" in page.locator("body").inner_text()

    # The code already used, replayed with its own state cookie: MGX refuses, the page says so.
    assert callbacks, "the login went through the app's callback"
    page.context.clear_cookies()
    browser_login(page, owner)
    page.context.add_cookies([{k: c[k] for k in ("name", "value", "domain", "path", "httpOnly", "sameSite")}
                              | {"expires": -1} for c in state_cookies])
    replayed = page.goto(callbacks[0])
    assert replayed.status == 400 and "MGX refused the login" in page.locator("body").inner_text()
    assert page.request.get(f"{base}/api/me").status == 401

    # Another app's user: refused on MGX's form for this app, and on the app's password form.
    page.goto(f"{base}/auth/login")
    arrive(page, f"{live.url}/oauth2/apps/{app.slug}/login/**")
    page.fill("input[name=username]", "mallory")
    page.fill("input[name=password]", PASSWORD)
    page.click(f"form[action$='/apps/{app.slug}/login/'] button[type=submit]")
    assert page.url.startswith(f"{live.url}/oauth2/apps/{app.slug}/login/")
    assert page.locator("[role=alert]").count() > 0
    refused = page.request.post(f"{base}/auth/password", form={"username": "mallory", "password": PASSWORD},
                                max_redirects=0)
    assert refused.status == 400 and 'name="password"' in refused.text()
    assert page.request.get(f"{base}/api/me").status == 401

    # The template's own tests, inside the container: a token signed by another key is refused.
    ran = services.dev_exec(app=app, command=TEMPLATES[framework]["self_test"], timeout=300)
    assert ran.exit_code == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    services.dev_stop(app=app)
