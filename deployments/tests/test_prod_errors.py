"""A live release that fails shows "Errors" (issue 28): its requests answered 5xx or ending in an
error span, and the errors it logged, over the last minutes, counted from the telemetry its
containers sent to MGX's receiver (the real SDK exporters, over HTTP, to the live Daphne).

Only that app's production counts: not its dev server, not its health checks, not another app,
not what happened before the release went live. The Prod tab, the session's header, the
dashboard and the API say it with the count and a link to the failing traces; Fix it on the Prod
tab, on a failing trace and on an error log line builds the team's report from them, and never
from another app's."""
import datetime as dt

import pytest
import requests
from django.utils import timezone
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from agents.reports import report_for
from agents.tests.test_api_agent import bearer
from core.errors import NotFound
from deployments.models import Build, Release
from deployments.prod_health import prod_errors_check
from observability import services as telemetry
from observability.selectors import logs_list
from observability.tests.otlp_clients import log_exporter, make_logs, make_request, make_trace, span_exporter

pytestmark = pytest.mark.django_db(transaction=True)


def _live_release(app, *, minutes_ago=5) -> Release:
    """The row a deploy leaves behind (the counting reads rows and telemetry, not containers)."""
    build = Build.objects.create(app=app, number=1, commit="0" * 40, status=Build.Status.SUCCEEDED)
    return Release.objects.create(app=app, build=build, number=1, status=Release.Status.LIVE,
                                  live_at=timezone.now() - dt.timedelta(minutes=minutes_ago))


def _send(live, app, *, stage, answers, failing_spans=0):
    """Requests as the app's instrumentation reports them: one trace per HTTP answer in
    `answers`; `failing_spans` more whose child span failed (answered 200 anyway)."""
    token = telemetry.app_ingest_token(app=app)
    exporter = span_exporter(live.url, token, app.slug, stage=stage)
    ids = []
    for status in answers:
        finished, trace_id = make_request(app.slug, name="GET /api/orders", children=("db.find orders",), attributes={
            "http.route": "/api/orders", "http.target": f"/apps/{app.slug}/{stage}/api/orders",
            "http.status_code": status})
        assert exporter.export(finished) == SpanExportResult.SUCCESS
        ids.append(trace_id)
    for _ in range(failing_spans):
        finished, trace_id = make_trace(app.slug, error=True)
        assert exporter.export(finished) == SpanExportResult.SUCCESS
        ids.append(trace_id)
    return ids


def _log(live, app, *, stage, records):
    exporter = log_exporter(live.url, telemetry.app_ingest_token(app=app), app.slug, stage=stage)
    assert exporter.export(make_logs(app.slug, records=records)) == LogRecordExportResult.SUCCESS


@pytest.fixture
def shop_and_blog(app_factory, user_factory):
    owner = user_factory(username="erin")
    shop, blog = app_factory(owner=owner, name="Shop"), app_factory(name="Blog")
    yield owner, shop, blog
    for app in (shop, blog):
        telemetry.telemetry_delete(slug=app.slug)


def test_a_failing_release_shows_errors_with_the_count_and_the_failing_traces(live, shop_and_blog, client, browser,
                                                                             browser_login):
    owner, shop, blog = shop_and_blog
    release = _live_release(shop)
    _live_release(blog)
    ok = _send(live, shop, stage="prod", answers=[200, 200, 200, 204])
    failed = _send(live, shop, stage="prod", answers=[500, 502], failing_spans=1)
    _log(live, shop, stage="prod", records=[("ERROR", "payment provider refused the card")])
    # None of these is production's failing: the dev server's, the health checks', the other app's.
    _send(live, shop, stage="dev", answers=[500] * 6)
    _log(live, shop, stage="dev", records=[("ERROR", "dev only")] * 3)
    health = make_request(shop.slug, name="GET /healthz", attributes={
        "http.target": f"/apps/{shop.slug}/prod/healthz", "http.status_code": 503})[0]
    assert span_exporter(live.url, telemetry.app_ingest_token(app=shop), shop.slug, stage="prod").export(health) \
        == SpanExportResult.SUCCESS
    _send(live, blog, stage="prod", answers=[500] * 2)

    client.force_login(owner)
    assert "is failing" not in client.get(f"/sessions/{shop.slug}/?tab=prod").content.decode()

    counted = prod_errors_check()
    assert counted[shop.slug] == 4 and counted[blog.slug] == 2
    release.refresh_from_db()
    assert release.failing
    assert release.errors["failing"] == 3 and release.errors["requests"] == 7 and release.errors["error_logs"] == 1
    assert set(release.errors["traces"]) == set(failed) and not set(release.errors["traces"]) & set(ok)

    # The Prod tab: the count, what it counted, and links to the failing traces and the error logs.
    page = client.get(f"/sessions/{shop.slug}/?tab=prod").content.decode()
    assert "Release #1 is failing" in page
    assert "3 of 7 requests failed, and 1 error was logged outside them (50%)" in page
    assert f"/sessions/{shop.slug}/?tab=traces&amp;stage=prod&amp;status=error&amp;range=15m" in page
    assert 'name="kind" value="prod"' in page
    assert "Prod: errors (4)" in page  # the session's header
    dashboard = client.get("/").content.decode()
    assert "Prod: errors (4)" in dashboard

    # The API says the same, for scripts.
    token = bearer(live, owner.username, owner.raw_password)
    status = requests.get(f"{live.url}/api/apps/{shop.slug}/prod/status", timeout=10,
                          headers={"Authorization": f"Bearer {token}"}).json()
    assert status["live"]["errors"]["over"] is True and status["live"]["errors"]["count"] == 4
    assert status["live"]["errors"]["traces_url"].endswith("status=error&range=15m")

    # In the browser: the dashboard's badge leads to the failing traces, and only those.
    page = browser.new_page()
    browser_login(page, owner)
    page.click(f"a.prod-errors[href*='/sessions/{shop.slug}/']")
    rows = page.locator("#trace-list tr.trace-row")
    rows.first.wait_for()
    assert rows.count() == 3
    assert page.locator("#trace-list tr.trace-row.is-error form.fix-it").count() == 3
    assert page.locator("select[name=stage]").input_value() == "prod"
    page.close()


def test_a_release_counts_only_since_it_went_live_and_a_quiet_one_shows_nothing(live, shop_and_blog, client):
    owner, shop, _ = shop_and_blog
    release = _live_release(shop)
    _send(live, shop, stage="prod", answers=[500] * 5)
    prod_errors_check()
    release.refresh_from_db()
    assert release.failing

    # A fix deployed: the new release starts clean, whatever the old one did minutes ago.
    release.status, release.stopped_at = Release.Status.STOPPED, timezone.now()
    release.save()
    fixed = Release.objects.create(app=shop, build=release.build, number=2, status=Release.Status.LIVE,
                                   live_at=timezone.now())
    prod_errors_check()
    fixed.refresh_from_db()
    assert not fixed.failing and fixed.errors["count"] == 0
    client.force_login(owner)
    page = client.get(f"/sessions/{shop.slug}/?tab=prod").content.decode()
    assert "is failing" not in page and "Prod: errors" not in page and "Prod: live" in page

    # Below the threshold: one failure in many requests is not "Errors".
    _send(live, shop, stage="prod", answers=[200] * 40 + [500])
    prod_errors_check()
    fixed.refresh_from_db()
    assert fixed.errors["failing"] == 1 and not fixed.failing


def test_fix_it_reports_a_failing_release_trace_and_log_line_of_this_app_only(live, shop_and_blog, client):
    owner, shop, blog = shop_and_blog
    release = _live_release(shop)
    failed = _send(live, shop, stage="prod", answers=[], failing_spans=3)
    _log(live, shop, stage="prod", records=[("ERROR", "orders collection missing in /workspace/lib/db.mjs:12"),
                                            ("INFO", "order list served")])
    blog_trace = _send(live, blog, stage="prod", answers=[], failing_spans=1)[0]
    _log(live, blog, stage="prod", records=[("ERROR", "blog secret failure")])
    prod_errors_check()
    release.refresh_from_db()

    report = report_for(app=shop, kind="prod", ref=str(release.pk))
    assert report.title.startswith("production release #1 is failing")
    assert "boom: orders collection missing" in report.text  # the failing span's status message
    assert "orders collection missing in /workspace/lib/db.mjs:12" in report.text
    assert report.where == "lib/db.mjs:12"

    trace = report_for(app=shop, kind="trace", ref=failed[0])
    assert trace.title == "a request failed: GET /api/orders" and "span render (boom: orders collection missing)" in trace.text

    rows = {r["body"]: r for r in logs_list(app=shop.slug)}
    error_line = report_for(app=shop, kind="log", ref=rows["orders collection missing in /workspace/lib/db.mjs:12"]["id"])
    assert error_line.where == "lib/db.mjs:12"
    with pytest.raises(NotFound, match="not an error"):
        report_for(app=shop, kind="log", ref=rows["order list served"]["id"])

    # Another app's trace or log line is nowhere to be found from this app's Fix it.
    blog_log = logs_list(app=blog.slug)[0]["id"]
    with pytest.raises(NotFound):
        report_for(app=shop, kind="trace", ref=blog_trace)
    with pytest.raises(NotFound):
        report_for(app=shop, kind="log", ref=blog_log)
    with pytest.raises(NotFound):
        report_for(app=shop, kind="log", ref="$where: 1")

    # The Logs tab offers Fix it on the error line only; the Traces tab on the failing traces.
    client.force_login(owner)
    logs_page = client.get(f"/sessions/{shop.slug}/?tab=logs&view=app").content.decode()
    assert logs_page.count('name="kind" value="log"') == 1
    assert f'value="{rows["orders collection missing in /workspace/lib/db.mjs:12"]["id"]}"' in logs_page
    traces_page = client.get(f"/sessions/{shop.slug}/?tab=traces").content.decode()
    assert traces_page.count('name="kind" value="trace"') == 3
