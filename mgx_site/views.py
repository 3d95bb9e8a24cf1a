from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import system_health


@never_cache
@require_GET
def healthz(request):
    states = system_health()
    down = [s.name for s in states if not s.up]
    body = {
        "status": "ok" if not down else "degraded",
        "down": down,
        "services": {s.name: s.as_dict() for s in states},
    }
    return JsonResponse(body, status=200 if not down else 503)
