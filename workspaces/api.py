"""JSON API over an app's workspace: `/api/workspaces/<slug>/entries` and `/files`."""
import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.authentication import api_auth_required
from mgx_site.api import json_errors
from sessions_app.selectors import app_for_user

from . import selectors, services
from .fs import WorkspaceConflict, WorkspaceError


def error_response(exc: WorkspaceError) -> JsonResponse:
    body = {"error": str(exc)}
    if isinstance(exc, WorkspaceConflict):
        body["current"] = exc.current.as_dict() if exc.current else None
    return JsonResponse(body, status=exc.status)


@api_auth_required
@json_errors
@require_GET
def entries(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    path = request.GET.get("path", "")
    try:
        listing = selectors.entries_list(app=app, path=path)
    except WorkspaceError as exc:
        return error_response(exc)
    return JsonResponse({"path": path, "entries": [e.as_dict() for e in listing]})


@api_auth_required
@json_errors
@require_http_methods(["GET", "PUT", "DELETE"])
def files(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    path = request.GET.get("path", "")
    try:
        if request.method == "GET":
            return JsonResponse(selectors.file_read(app=app, path=path).as_dict())
        if request.method == "DELETE":
            services.entry_delete(app=app, path=path, user=request.user)
            return HttpResponse(status=204)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "The body must be JSON: {\"content\": \"...\", \"version\": \"...\"}."}, status=400)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str):
            return JsonResponse({"error": "'content' (text) is required."}, status=400)
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            return JsonResponse({"error": "'version' must be a string ('' for a new file)."}, status=400)
        written = services.file_write(app=app, path=path, content=content, user=request.user, base_version=version)
        return JsonResponse({"path": written.path, "version": written.version, "size": written.size})
    except WorkspaceError as exc:
        return error_response(exc)
