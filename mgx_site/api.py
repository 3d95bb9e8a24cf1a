from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse


def json_errors(view):
    """API views answer in JSON even when a selector raises Http404 or PermissionDenied."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return JsonResponse({"error": "Not found."}, status=404)
        except PermissionDenied:
            return JsonResponse({"error": "You may not do that."}, status=403)

    return wrapper
