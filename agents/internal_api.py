"""What the agent container may ask of MGX, and nothing more: run a command in its app's dev
container, start it, read its state, a page of its preview, its logs. Authorised by the run's
token (a bearer, compared by hash); the token names exactly one app."""
import json
from functools import wraps

import requests
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from deployments import selectors as dev_selectors
from deployments import services as dev_services
from deployments.docker_client import DockerUnavailable
from sessions_app.models import App
from workspaces.fs import WorkspaceError

from .documents import AgentRun
from .runtime import token_hash

PREVIEW_LIMIT = 20_000


def agent_token_required(view):
    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        run = AgentRun.objects(token_hash=token_hash(token.strip()), status="running").first() if scheme.lower() == "bearer" and token.strip() else None
        app = App.objects.filter(slug=run.session).first() if run else None
        if app is None:
            return JsonResponse({"error": "A valid agent run token is required."}, status=401)
        request.agent_app, request.agent_run = app, run
        try:
            return view(request, *args, **kwargs)
        except (dev_services.DevError, DockerUnavailable) as exc:
            return JsonResponse({"error": str(exc)}, status=409)
        except WorkspaceError as exc:
            return JsonResponse({"error": str(exc)}, status=400)

    return wrapper


def _body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@agent_token_required
@require_POST
def exec_command(request):
    body = _body(request)
    command = body.get("command")
    if not (isinstance(command, str) and command.strip()) and not (isinstance(command, list) and command):
        return JsonResponse({"error": "'command' is required."}, status=400)
    timeout = min(max(float(body.get("timeout") or 120), 1), 900)
    result = dev_services.dev_exec(app=request.agent_app, command=command, cwd=str(body.get("cwd") or ""),
                                   env=body.get("env") or {}, timeout=timeout)
    return JsonResponse(result.as_dict())


@agent_token_required
@require_POST
def dev_start(request):
    dev = dev_services.dev_start(app=request.agent_app)
    return JsonResponse({"phase": dev.phase, "message": dev.message})


@agent_token_required
@require_GET
def dev_status(request):
    summary = dev_selectors.dev_summary(app=request.agent_app)
    return JsonResponse({"phase": summary["phase"], "message": summary["message"], "log_tail": summary["log_tail"]})


@agent_token_required
@require_GET
def preview(request):
    dev = dev_selectors.dev_for_app(app=request.agent_app)
    if dev.phase != dev.Phase.READY or not dev.host_port:
        return JsonResponse({"status": 0, "body": f"The dev server is not ready (phase: {dev.phase}). Start it first."})
    path = "/" + (request.GET.get("path") or "").lstrip("/")
    url = f"http://127.0.0.1:{dev.host_port}/apps/{request.agent_app.slug}/dev{path}"
    try:
        got = requests.get(url, timeout=60)
    except requests.RequestException as exc:
        return JsonResponse({"status": 0, "body": f"No answer from the dev server: {type(exc).__name__}"})
    return JsonResponse({"status": got.status_code, "body": got.text[:PREVIEW_LIMIT]})


@agent_token_required
@require_GET
def logs(request):
    return JsonResponse({"text": dev_services.dev_logs(app=request.agent_app, lines=200)})
