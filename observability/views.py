"""The Traces tab and the OTel view of the Logs tab (`/sessions/<slug>/traces/…`,
`/sessions/<slug>/logs/app/`), and the admin's page of MGX's own spans (`/admin/telemetry/`).
Every app view checks the user may touch the app (`app_for_user`: anyone else gets 404)."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sessions_app.selectors import app_for_user

from . import selectors, services


@login_required
@require_GET
def traces(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    if request.htmx:
        return render(request, "observability/traces.html#trace-list", {"app": app, **selectors.traces_tab(app=app, params=request.GET)})
    query = request.GET.copy()
    query["tab"] = "traces"
    return redirect(reverse("studio:detail", args=[slug]) + "?" + query.urlencode())


@login_required
@require_GET
def otel_logs(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    if request.htmx:
        return render(request, "observability/logs.html#log-rows", {"app": app, **selectors.otel_logs_tab(app=app, params=request.GET)})
    query = request.GET.copy()
    query.update({"tab": "logs", "view": "app"})
    return redirect(reverse("studio:detail", args=[slug]) + "?" + query.urlencode())


@login_required
@require_POST
def token_rotate(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    services.ingest_token_rotate(app=app)
    messages.success(request, "New ingest token made; the old one is refused from now on. "
                              "Start the dev server fresh and deploy again so the app sends the new one.")
    return redirect(reverse("studio:detail", args=[slug]) + "?tab=traces")


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
    return redirect(reverse("studio:detail", args=[slug]) + "?tab=traces")


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
