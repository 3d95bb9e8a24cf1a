"""The Traces tab and the Logs tab's OpenTelemetry view in Chromium: a trace opens as a waterfall
with its logs, filters narrow the list, and a log record sent while the page is open shows up."""
import pytest
from playwright.sync_api import expect

from observability import services

from .otlp_clients import log_exporter, make_logs, make_trace, span_exporter

pytestmark = pytest.mark.django_db(transaction=True)


def test_traces_waterfall_and_live_app_logs(live, page, browser_login, app_factory, user_factory):
    owner = user_factory(username="tracer")
    app = app_factory(owner=owner, name="Trace Shop")
    token = services.app_ingest_token(app=app)
    failing, _ = make_trace(app.slug, root="POST /api/checkout", error=True,
                            children=("validate cart", "db.insert order", "charge card"))
    fine, _ = make_trace(app.slug, root="GET /api/catalogue", children=("db.find products",))
    span_exporter(live.url, token, app.slug).export([*failing, *fine])
    log_exporter(live.url, token, app.slug).export(
        make_logs(app.slug, trace_spans=failing, records=[("INFO", "checkout started"), ("ERROR", "card declined")]))
    try:
        browser_login(page, owner)
        page.goto(f"{live.url}/sessions/{app.slug}/?tab=traces")
        page.locator(".trace-row", has_text="GET /api/catalogue").wait_for()
        page.select_option("select[name=status]", "error")
        expect(page.locator(".trace-row")).to_have_count(1)
        page.click(".trace-link:has-text('POST /api/checkout')")
        view = page.locator("#trace-view")
        view.locator(".wf-row", has_text="charge card").wait_for()
        assert view.locator(".wf-row").count() == 4
        view.locator(".wf-row.is-error summary", has_text="charge card").click()
        assert "boom: orders collection missing" in view.inner_text()
        assert "card declined" in view.locator(".otel-logs").inner_text()
        page.screenshot(path="/tmp/i15-traces-tab.png", full_page=True)

        page.click("nav.tabs a:has-text('Logs')")
        page.click(".subtab:has-text('App logs')")
        rows = page.locator("#otel-log-rows")
        rows.locator(".otel-log", has_text="card declined").wait_for()
        log_exporter(live.url, token, app.slug).export(make_logs(app.slug, records=[("WARNING", "stock running low")]))
        rows.locator(".otel-log", has_text="stock running low").wait_for(timeout=15_000)  # live, no reload
        page.select_option("select[name=severity]", "error")
        expect(rows.locator(".otel-log", has_text="stock running low")).to_have_count(0)
        assert "card declined" in rows.inner_text()
        page.select_option("select[name=severity]", "")
        page.locator(".otel-log", has_text="stock running low").wait_for()
        page.screenshot(path="/tmp/i15-otel-logs.png", full_page=True)
    finally:
        services.telemetry_delete(slug=app.slug)


def test_health_checks_hidden_until_asked_and_the_dev_prod_filter(live, browser, browser_login, app_factory,
                                                                 user_factory):
    """Issue 27: the health checks every ~10 s no longer bury the app's own requests; each trace
    says dev or prod, and the list narrows to one stage, a route or an HTTP status."""
    import os
    from pathlib import Path

    from mgx_site import defaults

    from .otlp_clients import make_request

    owner = user_factory(username="stager")
    app = app_factory(owner=owner, name="Stage Shop")
    token = services.app_ingest_token(app=app)

    def request(stage, path, status=200, error=False):
        finished, _ = make_request(app.slug, name=f"GET {path}", error=error, children=(f"GET {path} http send",),
                                   attributes={"http.method": "GET", "http.target": f"/apps/{app.slug}/{stage}{path}",
                                               "http.route": path, "http.status_code": status})
        span_exporter(live.url, token, app.slug, stage=stage).export(finished)

    for _ in range(3):
        request("dev", "/api/healthz")
        request("prod", "/api/healthz")
    request("dev", "/api/orders")
    request("prod", "/api/orders")
    request("prod", "/api/checkout", status=500, error=True)
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    try:
        browser_login(page, owner)
        page.goto(f"{live.url}/sessions/{app.slug}/?tab=traces")
        rows = page.locator(".trace-row")
        expect(rows).to_have_count(3)
        expect(page.locator(".trace-row.is-health")).to_have_count(0)
        expect(page.locator("#health-hidden")).to_contain_text("6 health checks hidden")
        assert sorted(rows.locator(".badge-stage").all_inner_texts()) == ["dev", "prod", "prod"]
        checkout = page.locator(".trace-row", has_text="GET /api/checkout")
        assert "prod" in checkout.inner_text() and "500" in checkout.locator(".http-code").inner_text()

        page.check("input[name=health]")
        expect(page.locator(".trace-row.is-health")).to_have_count(6)
        expect(page.locator("#health-hidden")).to_have_count(0)
        page.uncheck("input[name=health]")
        expect(rows).to_have_count(3)

        page.select_option("select[name=stage]", "prod")
        expect(rows).to_have_count(2)
        assert rows.locator(".badge-stage").all_inner_texts() == ["prod", "prod"]
        page.fill("input[name=http]", "5xx")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("GET /api/checkout")
        page.fill("input[name=http]", "")
        page.select_option("select[name=stage]", "dev")
        page.fill("input[name=route]", "orders")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("GET /api/orders")
        page.fill("input[name=route]", "")
        page.select_option("select[name=stage]", "")
        expect(rows).to_have_count(3)
        page.click(".trace-link:has-text('GET /api/checkout')")
        page.locator("#trace-view .wf-row").first.wait_for()
        assert page.locator("#trace-view .trace-head .badge-stage").inner_text() == "prod"
        shots = Path(os.environ.get("MGX_TEST_ARTIFACTS") or defaults.MGX_VAR_DIR / "test-artifacts") / "issue-27"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "traces-tab.png"))
    finally:
        page.context.close()
        services.telemetry_delete(slug=app.slug)
