"""Issue 27, part 6: spans are tagged at ingest with their stage (the container's X-MGX-Stage, or
the app's base path /apps/<app>/dev|prod in a span's path) and, for a request to the template's
health path, as a health check; the trace list hides health checks unless asked, filters by stage,
route and HTTP status, and labels each trace with its stage. Sent by the real SDK exporters to the
live receiver, as the apps' containers send them."""
import pytest

from observability import services
from observability.documents import spans
from observability.selectors import traces_list, traces_tab

from .otlp_clients import make_request, span_exporter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(app_factory):
    app = app_factory(name="Filter Shop")
    yield app
    services.telemetry_delete(slug=app.slug)


def fastapi_request(slug, stage, path, *, route=None, status=200, error=False):
    """A request's trace as the FastAPI template's instrumentation makes it (old semantic
    conventions: http.target with the base path, http.route without it)."""
    return make_request(slug, name=f"GET {route or path}", error=error, children=(f"GET {route or path} http send",),
                        attributes={"http.method": "GET", "http.target": f"/apps/{slug}/{stage}{path}",
                                    "http.route": route or path, "http.status_code": status})


def nextjs_request(slug, stage, path, *, status=200):
    """A request's trace as Next.js makes it: http.target with the base path, next.route."""
    return make_request(slug, name=f"GET {path}", children=("render route (app) " + path,),
                        attributes={"http.method": "GET", "http.target": f"/apps/{slug}/{stage}{path}",
                                    "next.route": path, "http.status_code": status,
                                    "next.span_type": "BaseServer.handleRequest"})


def _send(live, app, finished, stage=None):
    exporter = span_exporter(live.url, services.app_ingest_token(app=app), app.slug, stage=stage)
    exporter.export(finished)


def _names(rows):
    return sorted((r["stage"], r["name"]) for r in rows)


def test_spans_are_tagged_with_their_stage_and_health_checks_at_ingest(live, shop):
    slug = shop.slug
    sent = {
        "dev health": fastapi_request(slug, "dev", "/api/healthz"),
        "prod health": nextjs_request(slug, "prod", "/healthz"),
        "dev orders": fastapi_request(slug, "dev", "/api/orders/7", route="/api/orders/{id}"),
        "prod checkout": fastapi_request(slug, "prod", "/api/checkout", status=500, error=True),
    }
    for finished, _ in sent.values():
        _send(live, shop, finished)
    # A container that says its stage, with spans that carry no path at all (a background job).
    job, job_id = make_request(slug, name="nightly cleanup", attributes={"job": "cleanup"}, children=("db.delete old",))
    _send(live, shop, job, stage="prod")
    # From elsewhere (no header, no base path): no stage.
    other, other_id = make_request(slug, name="script run", attributes={})
    _send(live, shop, other)

    def group(trace_id):
        return spans().find_one({"app": slug, "trace_id": trace_id, "root": {"$ne": ""}})

    assert (group(sent["dev health"][1])["stage"], group(sent["dev health"][1])["health"]) == ("dev", True)
    assert (group(sent["prod health"][1])["stage"], group(sent["prod health"][1])["health"]) == ("prod", True)
    orders = group(sent["dev orders"][1])
    assert (orders["stage"], orders["route"], orders["http_status"]) == ("dev", "/api/orders/{id}", 200)
    assert "health" not in orders
    assert group(sent["prod checkout"][1])["http_status"] == 500
    assert group(job_id)["stage"] == "prod" and group(other_id)["stage"] == ""

    # The list: health checks left out by default, each trace labelled with its stage.
    assert _names(traces_list(app=slug)) == [("", "script run"), ("dev", "GET /api/orders/{id}"),
                                             ("prod", "GET /api/checkout"), ("prod", "nightly cleanup")]
    shown = traces_list(app=slug, health=True)
    assert {("dev", "GET /api/healthz"), ("prod", "GET /healthz")} <= set(_names(shown))
    assert [r["health"] for r in shown if r["name"] in ("GET /api/healthz", "GET /healthz")] == [True, True]
    assert _names(traces_list(app=slug, stage="prod")) == [("prod", "GET /api/checkout"), ("prod", "nightly cleanup")]
    assert _names(traces_list(app=slug, stage="dev", health=True)) == [("dev", "GET /api/healthz"),
                                                                      ("dev", "GET /api/orders/{id}")]
    assert _names(traces_list(app=slug, route="orders")) == [("dev", "GET /api/orders/{id}")]
    assert _names(traces_list(app=slug, http_status="5xx")) == [("prod", "GET /api/checkout")]
    assert _names(traces_list(app=slug, http_status="200")) == [("dev", "GET /api/orders/{id}")]
    assert _names(traces_list(app=slug, http_status="404")) == []

    tab = traces_tab(app=shop, params={})
    assert tab["health_hidden"] == 2 and not tab["f"]["health"]
    tab = traces_tab(app=shop, params={"health": "1", "stage": "prod", "http": "5xx", "route": "checkout"})
    assert _names(tab["traces"]) == [("prod", "GET /api/checkout")] and tab["health_hidden"] == 0
    odd = traces_tab(app=shop, params={"stage": "qa", "http": "abc"})
    assert (odd["f"]["stage"], odd["f"]["http"]) == ("", "") and len(odd["traces"]) == 4  # filter nothing


def test_a_health_check_whose_children_came_first_is_still_one(live, shop):
    finished, trace_id = fastapi_request(shop.slug, "dev", "/api/healthz")
    children = [s for s in finished if s.parent is not None]
    root = [s for s in finished if s.parent is None]
    _send(live, shop, children)  # an earlier export batch: no root, nothing says "health" yet
    _send(live, shop, root)
    assert spans().count_documents({"app": shop.slug, "trace_id": trace_id, "health": True}) == 2
    assert traces_list(app=shop.slug) == []


def test_the_time_range_leaves_out_older_traces_and_a_5xx_answer_is_an_error(live, shop):
    """The range is kept inside the list's aggregation too (nx-27017 matched any date there, so
    "last 15m" listed a day's traces); a request answered 5xx is a failed one, whatever its
    instrumentation set as its status."""
    import datetime as dt

    old, old_id = fastapi_request(shop.slug, "prod", "/api/orders")
    new, new_id = fastapi_request(shop.slug, "prod", "/api/orders", status=503)
    _send(live, shop, old, stage="prod")
    _send(live, shop, new, stage="prod")
    two_hours = int(dt.timedelta(hours=2).total_seconds() * 1e9)  # the old one happened two hours ago
    for group in spans().find({"app": shop.slug, "trace_id": old_id}):
        spans().update_one({"_id": group["_id"]}, {"$set": {
            "start_ns": group["start_ns"] - two_hours, "end_ns": group["end_ns"] - two_hours,
            "start": group["start"] - dt.timedelta(hours=2)}})
    assert [r["trace_id"] for r in traces_list(app=shop.slug, range_key="15m")] == [new_id]
    assert {r["trace_id"] for r in traces_list(app=shop.slug, range_key="24h")} == {old_id, new_id}
    assert [r["trace_id"] for r in traces_list(app=shop.slug, range_key="1h", status="error")] == [new_id]
