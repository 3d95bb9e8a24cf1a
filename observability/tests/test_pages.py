"""The Traces tab, a trace's waterfall with its logs, and the Logs tab's OTel view, fed by the
real SDK exporters through the live receiver; strangers get 404; rotate changes the token."""
import pytest
from django.test import Client
from opentelemetry.sdk.trace.export import SpanExportResult

from observability import services

from .otlp_clients import log_exporter, make_logs, make_trace, span_exporter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(app_factory, user_factory, live):
    owner = user_factory(username="shopowner")
    app = app_factory(owner=owner, name="Shop")
    token = services.app_ingest_token(app=app)
    failing, failing_id = make_trace(app.slug, root="POST /api/checkout", error=True, children=("charge card",))
    fine, fine_id = make_trace(app.slug, root="GET /api/catalogue", children=("db.find products",))
    assert span_exporter(live.url, token, app.slug).export([*failing, *fine]) == SpanExportResult.SUCCESS
    log_exporter(live.url, token, app.slug).export(
        make_logs(app.slug, trace_spans=failing, records=[("ERROR", "card declined by the gateway")]))
    log_exporter(live.url, token, app.slug).export(make_logs(app.slug, records=[("INFO", "catalogue served")]))
    app.failing_id, app.fine_id = failing_id, fine_id
    yield app
    services.telemetry_delete(slug=app.slug)


def _as(user):
    client = Client()
    client.force_login(user)
    return client


def test_traces_tab_lists_filters_and_shows_the_waterfall_with_logs(shop):
    owner = _as(shop.owner)
    page = owner.get(f"/sessions/{shop.slug}/?tab=traces").content.decode()
    assert "POST /api/checkout" in page and "GET /api/catalogue" in page
    assert page.count('<time datetime="20') >= 2  # each trace's start time is shown
    errors = owner.get(f"/sessions/{shop.slug}/traces/?status=error", HTTP_HX_REQUEST="true").content.decode()
    assert "POST /api/checkout" in errors and "GET /api/catalogue" not in errors
    by_text = owner.get(f"/sessions/{shop.slug}/traces/?q=catalogue", HTTP_HX_REQUEST="true").content.decode()
    assert "GET /api/catalogue" in by_text and "POST /api/checkout" not in by_text
    slow = owner.get(f"/sessions/{shop.slug}/traces/?min_ms=60000", HTTP_HX_REQUEST="true").content.decode()
    assert "No traces match" in slow

    trace = owner.get(f"/sessions/{shop.slug}/traces/{shop.failing_id}/").content.decode()
    assert "charge card" in trace and "boom: orders collection missing" in trace
    assert "http.route" in trace and "cache miss" in trace  # attributes and events
    assert "card declined by the gateway" in trace  # the trace's logs
    assert "catalogue served" not in trace


def test_logs_tab_app_view_filters_by_severity_and_text(shop):
    owner = _as(shop.owner)
    page = owner.get(f"/sessions/{shop.slug}/?tab=logs&view=app").content.decode()
    assert "card declined by the gateway" in page and "catalogue served" in page
    assert f"/sessions/{shop.slug}/traces/{shop.failing_id}/" in page  # the trace link
    errors = owner.get(f"/sessions/{shop.slug}/logs/app/?severity=error", HTTP_HX_REQUEST="true").content.decode()
    assert "card declined" in errors and "catalogue served" not in errors
    text = owner.get(f"/sessions/{shop.slug}/logs/app/?q=CATALOGUE", HTTP_HX_REQUEST="true").content.decode()
    assert "catalogue served" in text and "card declined" not in text


def test_strangers_see_nothing_and_the_owner_rotates_the_token(shop, user_factory):
    stranger = _as(user_factory(username="nosy"))
    for url in (f"/sessions/{shop.slug}/traces/", f"/sessions/{shop.slug}/traces/{shop.failing_id}/",
                f"/sessions/{shop.slug}/logs/app/"):
        assert stranger.get(url).status_code == 404
    before = services.app_ingest_token(app=shop)
    assert stranger.post(f"/sessions/{shop.slug}/traces/token/rotate").status_code == 404
    assert services.app_ingest_token(app=shop) == before
    owner = _as(shop.owner)
    assert owner.post(f"/sessions/{shop.slug}/traces/token/rotate").status_code == 302
    assert services.app_ingest_token(app=shop) != before
    assert owner.post(f"/sessions/{shop.slug}/traces/retention", {"days": "0"}).status_code == 302
    assert services.ingest_key(app=shop).retention_days is None  # refused, unchanged
    owner.post(f"/sessions/{shop.slug}/traces/retention", {"days": "30"})
    assert services.ingest_key(app=shop).retention_days == 30
