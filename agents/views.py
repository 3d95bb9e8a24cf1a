"""Chat actions from the session page: send a message, answer an interrupt, cancel a run."""
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from core.errors import HTTP_STATUS
from sessions_app.selectors import app_for_user

from . import services


def _error(exc: services.AgentError) -> JsonResponse:
    # The kind's status (core.errors' one table). Not `http_status`: its 422 for an invalid field
    # is the JSON API's "the body does not fit"; the chat's form answers 400 (chat.js says
    # "write a message first" on a 400), as it always has.
    return JsonResponse({"error": str(exc)}, status=HTTP_STATUS[exc.kind])


@login_required
@require_POST
def message(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    try:
        run = services.run_start(app=app, user=request.user, text=request.POST.get("text", ""))
    except services.AgentError as exc:
        return _error(exc)
    return JsonResponse({"run": run.run_id}, status=202)


@login_required
@require_POST
def resume(request, slug, run_id):
    app = app_for_user(user=request.user, slug=slug)
    try:
        run = services.run_resume(
            app=app, user=request.user, run_id=run_id, call_id=request.POST.get("call_id", ""),
            approved=request.POST.get("approved") == "1", command=request.POST.get("command", ""),
            answer=request.POST.get("answer", ""),
        )
    except services.AgentError as exc:
        return _error(exc)
    return JsonResponse({"run": run.run_id}, status=202)


@login_required
@require_POST
def cancel(request, slug, run_id):
    app = app_for_user(user=request.user, slug=slug)
    try:
        run = services.run_cancel(app=app, user=request.user, run_id=run_id)
    except services.AgentError as exc:
        return _error(exc)
    return JsonResponse({"status": run.status})
