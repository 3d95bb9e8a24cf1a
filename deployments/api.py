"""JSON API for an app's dev container: `/api/apps/<slug>/dev` and `/api/apps/<slug>/exec`."""
import json

from django.http import JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.authentication import api_auth_required
from mgx_site.api import json_errors
from sessions_app.selectors import app_for_user
from workspaces.fs import WorkspaceError

from . import selectors, services
from .docker_client import DockerUnavailable

MAX_TIMEOUT = 600


@api_auth_required
@json_errors
@require_http_methods(["GET", "POST", "DELETE"])
def dev(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    try:
        if request.method == "POST":
            services.dev_start(app=app)
        elif request.method == "DELETE":
            services.dev_stop(app=app)
    except (services.DevError, DockerUnavailable) as exc:
        return JsonResponse({"error": str(exc)}, status=503 if isinstance(exc, DockerUnavailable) else 409)
    return JsonResponse(selectors.dev_summary(app=app), status=202 if request.method == "POST" else 200)


@api_auth_required
@json_errors
@require_POST
def exec_command(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The body must be JSON."}, status=400)
    command = body.get("command") if isinstance(body, dict) else None
    if not (isinstance(command, str) and command.strip()) and not (
        isinstance(command, list) and command and all(isinstance(p, str) for p in command)
    ):
        return JsonResponse({"error": "'command' must be a non-empty string or a list of strings."}, status=400)
    env = body.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return JsonResponse({"error": "'env' must map names to strings."}, status=400)
    try:
        timeout = float(body.get("timeout", 60))
    except (TypeError, ValueError):
        return JsonResponse({"error": "'timeout' must be a number of seconds."}, status=400)
    if not 0 < timeout <= MAX_TIMEOUT:
        return JsonResponse({"error": f"'timeout' must be between 0 and {MAX_TIMEOUT} seconds."}, status=400)
    cwd = body.get("cwd") or ""
    if not isinstance(cwd, str):
        return JsonResponse({"error": "'cwd' must be a path inside the workspace."}, status=400)
    try:
        result = services.dev_exec(app=app, command=command, cwd=cwd, env=env, timeout=timeout)
    except WorkspaceError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except services.DevError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except DockerUnavailable as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(result.as_dict())
