"""JSON API: `/api/sessions` (list, create) and `/api/sessions/<slug>`."""
import json

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.authentication import api_auth_required
from mgx_site.api import json_errors

from . import selectors, services


@api_auth_required
@json_errors
@require_http_methods(["GET", "POST"])
def sessions(request):
    if request.method == "GET":
        return JsonResponse({"sessions": [selectors.app_summary(app=a) for a in selectors.apps_for_user(user=request.user)]})
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The body must be JSON."}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "The body must be a JSON object."}, status=400)
    try:
        app = services.app_create(
            owner=request.user,
            name=str(body.get("name", "")),
            framework=str(body.get("framework", "")),
            description=str(body.get("description", "")),
            slug=str(body.get("slug", "")),
        )
    except ValidationError as exc:
        return JsonResponse({"error": "The session was not created.", "fields": exc.message_dict}, status=400)
    return JsonResponse(selectors.app_summary(app=app), status=201)


@api_auth_required
@json_errors
@require_GET
def session_detail(request, slug):
    app = selectors.app_for_user(user=request.user, slug=slug)
    return JsonResponse(selectors.app_summary(app=app))
