"""The Dev tab: start/stop/restart, live phase, preview iframe, last log lines."""
import functools
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.htmx import HtmxHttpRequest
from core.streams import in_thread
from sessions_app.selectors import app_for_user

from . import dev_health, logs, selectors, services

# One service per button; a plain form POST (no JavaScript) does the same as the hx-post.
# Stop keeps the dev server warm (paused) for MGX_DEV_KEEP_WARM, so Start brings it back at once;
# Restart always makes a fresh one.
ACTIONS = {"start": services.dev_start, "stop": functools.partial(services.dev_stop, keep_warm=True),
           "restart": services.dev_restart}


def _panel(request, app, *, error: str = "", status: int = 200):
    return render(request, "deployments/dev_panel.html",
                  {"app": app, "dev": selectors.dev_for_app(app=app), "ssh": selectors.ssh_access(app=app),
                   "error": error}, status=status)


def _back_to_tab(app):
    return redirect(reverse("studio:detail", args=[app.slug]) + "?tab=dev")


@login_required
@require_GET
def dev_panel(request: HtmxHttpRequest, slug):
    return _panel(request, app_for_user(user=request.user, slug=slug))


@login_required
@require_POST
def dev_action(request: HtmxHttpRequest, slug, action):
    app = app_for_user(user=request.user, slug=slug)
    service = ACTIONS.get(action)
    if service is None:
        raise Http404("No such dev action.")
    try:
        service(app=app)
    except services.DevError as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return _back_to_tab(app)
        # 422: the one error status htmx is set to swap (templates/base.html), so the panel
        # shows the message in place.
        return _panel(request, app, error=str(exc), status=422)
    if not request.htmx:
        return _back_to_tab(app)
    return _panel(request, app)


MAX_PAGE_REPORT = 8 * 1024


@login_required
@require_POST
def dev_page_report(request, slug):
    """What the preview's page said about itself, forwarded by MGX's page (static/js/preview.js)
    from the template's dev-only script: {"kind": "error"|"ok", "message", "source", "url"}."""
    app = app_for_user(user=request.user, slug=slug)
    if len(request.body) > MAX_PAGE_REPORT:
        return JsonResponse({"error": "The report is too long."}, status=413)
    try:
        report = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The report is not JSON."}, status=400)
    if not isinstance(report, dict) or report.get("kind") not in ("error", "ok"):
        return JsonResponse({"error": 'The report\'s kind is "error" or "ok".'}, status=400)
    text = {key: str(report.get(key) or "")[:2000] for key in ("message", "source", "url")}
    dev = dev_health.dev_page_report(app=app, kind=report["kind"], **text)
    return JsonResponse({"health": dev.health if dev else ""})


@login_required
@require_GET
def logs_download(request, slug, role):
    """The whole log of one container as a text file (the Logs tab's Download)."""
    app = app_for_user(user=request.user, slug=slug)
    source = logs.log_sources(app=app, target=role)[0]
    # in_thread: Django's ASGI handler would read a synchronous iterator whole first (core.streams).
    response = StreamingHttpResponse(in_thread(logs.log_download(source=source)),
                                     content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{app.slug}-{source.role}.log"'
    return response
