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
