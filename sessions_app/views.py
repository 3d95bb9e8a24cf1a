from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from mgx_site.health import system_health


@login_required
def dashboard(request):
    return render(request, "sessions_app/dashboard.html", {"nav": "apps"})


@login_required
def system_status(request):
    # Loaded by HTMX after the page: the Celery ping waits up to a second and must not hold
    # up the dashboard itself.
    return render(request, "sessions_app/dashboard.html#services", {"services": system_health()})
