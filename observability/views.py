"""The Traces tab and the OTel view of the Logs tab (`/sessions/<slug>/traces/…`,
`/sessions/<slug>/logs/app/`), and the admin's page of MGX's own spans (`/admin/telemetry/`).
Every app view checks the user may touch the app (`app_for_user`: anyone else gets 404)."""
from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sessions_app.selectors import app_for_user

from . import selectors, services

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def _filters(source) -> dict:
    raw_ms = (source.get("min_ms") or "").strip()
    try:
        min_ms = float(raw_ms) if raw_ms else None
    except ValueError:
        min_ms = None
    return {"status": source.get("status", "") if source.get("status") in ("error", "ok") else "",
            "min_ms": min_ms, "min_ms_raw": raw_ms if min_ms is not None else "",
            "text": (source.get("q") or "")[:200],
            "range": source.get("range") if source.get("range") in selectors.RANGES else "24h"}


def traces_context(request, app) -> dict:
    """What the session page's Traces tab needs (its list, filters and the ingest settings)."""
    f = _filters(request.GET)
    return {"f": f, "ranges": list(selectors.RANGES), "traces": selectors.traces_list(
                app=app.slug, status=f["status"], min_ms=f["min_ms"], text=f["text"], range_key=f["range"]),
            "ingest": {"endpoint": selectors.apps_otlp_endpoint(), "key": services.ingest_key(app=app),
                       "retention": selectors.retention_days(app=app),
                       "default_retention": settings.MGX_OTLP_RETENTION_DAYS}}


def otel_logs_context(request, app) -> dict:
    severity = request.GET.get("severity", "")
    text = (request.GET.get("q") or "")[:200]
    return {"lf": {"severity": severity if severity in selectors.SEVERITIES else "", "text": text},
            "severities": list(selectors.SEVERITIES),
            "records": selectors.logs_list(app=app.slug, severity=severity, text=text)}


@login_required
@require_GET
def traces(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    if request.htmx:
        return render(request, "observability/traces.html#trace-list", {"app": app, **traces_context(request, app)})
    query = request.GET.copy()
    query["tab"] = "traces"
    return redirect(reverse("sessions_app:detail", args=[slug]) + "?" + query.urlencode())


@login_required
@require_GET
def trace(request, slug, trace_id):
    app = app_for_user(user=request.user, slug=slug)
    detail = selectors.trace_detail(app=app.slug, trace_id=trace_id) if TRACE_ID.match(trace_id) else None
    if detail is None:
        raise Http404("No such trace (it may be older than this app's retention).")
    context = {"app": app, "trace": detail}
    if request.htmx:
        return render(request, "observability/traces.html#trace-view", context)
    from sessions_app.tabs import TABS

    return render(request, "observability/trace_page.html", {**context, "tab": "traces", "tabs": TABS})


@login_required
@require_GET
def otel_logs(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    if request.htmx:
        return render(request, "observability/logs.html#log-rows", {"app": app, **otel_logs_context(request, app)})
    query = request.GET.copy()
    query.update({"tab": "logs", "view": "app"})
    return redirect(reverse("sessions_app:detail", args=[slug]) + "?" + query.urlencode())


@login_required
@require_POST
def token_rotate(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    services.ingest_token_rotate(app=app)
    messages.success(request, "New ingest token made; the old one is refused from now on. "
                              "Start the dev server fresh and deploy again so the app sends the new one.")
    return redirect(reverse("sessions_app:detail", args=[slug]) + "?tab=traces")


@login_required
@require_POST
def retention_set(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    raw = (request.POST.get("days") or "").strip()
    try:
        services.retention_set(app=app, days=int(raw) if raw else None)
    except (ValueError, services.Invalid) as exc:
        messages.error(request, str(exc) if isinstance(exc, services.Invalid) else "Days must be a whole number.")
    else:
        messages.success(request, "Retention saved.")
    return redirect(reverse("sessions_app:detail", args=[slug]) + "?tab=traces")


@staff_member_required
@require_GET
def mgx_telemetry(request):
    text, service = (request.GET.get("q") or "")[:200], (request.GET.get("service") or "")[:100]
    rows = selectors.mgx_spans(text=text, service=service)
    model_calls = [r for r in rows if dict(r["attrs"]).get("gen_ai.operation.name") == "chat"]
    return render(request, "observability/admin_telemetry.html", {
        "rows": rows, "q": text, "service": service, "title": "MGX's own telemetry",
        "exporting": settings.OTEL_EXPORTER_OTLP_ENDPOINT, "model_calls": model_calls,
        "tokens_in": sum(int(dict(r["attrs"]).get("gen_ai.usage.input_tokens") or 0) for r in model_calls),
        "tokens_out": sum(int(dict(r["attrs"]).get("gen_ai.usage.output_tokens") or 0) for r in model_calls)})
