"""Who is calling the JSON API (`/api/...`)."""
from functools import wraps

from django.http import JsonResponse


def api_auth_required(view):
    """JSON 401 instead of a login redirect when nobody is authenticated.

    Today: the browser session (CSRF enforced by the middleware). The OAuth2 provider issue adds
    `Authorization: Bearer <JWT>` here, so every API view gets it without changes.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper
