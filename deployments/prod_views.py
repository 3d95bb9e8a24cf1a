"""The Prod tab: build, deploy, stop, the release history with rollback, the build output (stored,
and appended live from `build.log` events), and the app's environment variables."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import MgxError
from core.htmx import HtmxHttpRequest
from sessions_app.selectors import app_for_user

from . import builds, envvars, production, selectors


def _panel(request, app, *, error: str = "", status: int = 200):
    return render(request, "deployments/prod_panel.html", {**selectors.prod_tab(app=app), "error": error}, status=status)


@login_required
@require_GET
def prod_panel(request: HtmxHttpRequest, slug):
    return _panel(request, app_for_user(user=request.user, slug=slug))


def _run(request, app, action):
    try:
        action()
    except MgxError as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return redirect(reverse("studio:detail", args=[app.slug]) + "?tab=prod")
        return _panel(request, app, error=str(exc), status=422)  # the status htmx swaps in place
    if not request.htmx:
        return redirect(reverse("studio:detail", args=[app.slug]) + "?tab=prod")
    return _panel(request, app)


@login_required
@require_POST
def prod_action(request: HtmxHttpRequest, slug, action):
    app = app_for_user(user=request.user, slug=slug)
    if action == "publish":
        return _run(request, app, lambda: builds.build_request(app=app, user=request.user, publish=True))
    if action == "build":
        return _run(request, app, lambda: builds.build_request(app=app, user=request.user))
    if action == "auto-publish":
        return _run(request, app, lambda: builds.auto_publish_set(
            app=app, enabled=request.POST.get("enabled") == "on", user=request.user))
    if action == "deploy":
        raw = request.POST.get("build", "").strip()
        build_id = int(raw) if raw.isdigit() else None
        return _run(request, app, lambda: production.release_request(app=app, user=request.user, build_id=build_id))
    if action == "stop":
        return _run(request, app, lambda: production.prod_stop(app=app))
    raise Http404("No such action.")


@login_required
@require_POST
def prod_rollback(request: HtmxHttpRequest, slug, release_id: int):
    app = app_for_user(user=request.user, slug=slug)
    return _run(request, app, lambda: production.release_rollback(app=app, release_id=release_id, user=request.user))


@login_required
@require_POST
def prod_env_set(request: HtmxHttpRequest, slug):
    app = app_for_user(user=request.user, slug=slug)
    return _run(request, app, lambda: envvars.env_var_set(
        app=app, name=request.POST.get("name", ""), value=request.POST.get("value", ""),
        secret=request.POST.get("secret") == "on"))


@login_required
@require_POST
def prod_env_delete(request: HtmxHttpRequest, slug, name):
    app = app_for_user(user=request.user, slug=slug)
    return _run(request, app, lambda: envvars.env_var_delete(app=app, name=name))
