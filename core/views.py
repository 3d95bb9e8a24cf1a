from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.authentication import request_user

from .health import may_see_health_details, system_health


@never_cache
@require_GET
def healthz(request):
    """200 when every service answers, else 503. Anyone sees which services are up or down by
    name; MGX admins (session or bearer token) also see each check's detail."""
    states = system_health()
    down = [s.name for s in states if not s.up]
    body = {
        "status": "ok" if not down else "degraded",
        "checks": {s.name: "ok" if s.up else "down" for s in states},
    }
    if may_see_health_details(request_user(request)):
        body["services"] = {s.name: s.as_dict() for s in states}
    return JsonResponse(body, status=200 if not down else 503)
