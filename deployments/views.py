"""The Dev tab: start/stop/restart, live phase, preview iframe, last log lines."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sessions_app.selectors import app_for_user

from . import selectors, services
from .docker_client import DockerUnavailable


def _panel(request, app, *, error: str = "", status: int = 200):
    return render(request, "deployments/dev_panel.html",
                  {"app": app, "dev": selectors.dev_for_app(app=app), "error": error}, status=status)


@login_required
@require_GET
def dev_panel(request, slug):
    return _panel(request, app_for_user(user=request.user, slug=slug))


@login_required
@require_POST
def dev_action(request, slug, action):
    app = app_for_user(user=request.user, slug=slug)
    try:
        if action in ("stop", "restart"):
            services.dev_stop(app=app)
        if action in ("start", "restart"):
            services.dev_start(app=app)
    except (services.DevError, DockerUnavailable) as exc:
        if not request.htmx:
            return redirect(f"/sessions/{slug}/?tab=dev")
        return _panel(request, app, error=str(exc), status=422)
    if not request.htmx:
        return redirect(f"/sessions/{slug}/?tab=dev")
    return _panel(request, app)
