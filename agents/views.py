"""Chat actions from the session page (send a message, answer an interrupt, cancel a run), and
the admins' model page (/admin/model/: the endpoint, key and models, and its Test)."""
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import HTTP_STATUS, Invalid, MgxError, http_status
from core.htmx import HtmxHttpRequest
from sessions_app.selectors import app_for_user

from . import selectors, services
from .models import DEFAULT_MODEL, ROLES

NO_MODEL = ("No model endpoint is configured, so the team cannot take messages yet. An MGX admin sets it on "
            "the admin's Model page (/admin/model/) or in MGX's .env file.")


def _error(exc: services.AgentError) -> JsonResponse:
    # The kind's status (core.errors' one table). Not `http_status`: its 422 for an invalid field
    # is the JSON API's "the body does not fit"; the chat's form answers 400 (chat.js says
    # "write a message first" on a 400), as it always has.
    return JsonResponse({"error": str(exc)}, status=HTTP_STATUS[exc.kind])


@login_required
@require_POST
def message(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    if not selectors.model_configured():  # the composer is disabled then; a stale page still gets why
        return JsonResponse({"error": NO_MODEL}, status=409)
    try:
        run = services.run_start(app=app, user=request.user, text=request.POST.get("text", ""))
    except services.AgentError as exc:
        return _error(exc)
    return JsonResponse({"run": run.run_id}, status=202)


@login_required
@require_POST
def fix(request, slug):
    """"Fix it" on an error (the Dev tab, the Prod tab, Traces, Logs): MGX writes the report and the
    team starts on it; the person lands in the chat to watch. A refusal (the team is busy, the
    error is gone) comes back to where they were, saying why."""
    app = app_for_user(user=request.user, slug=slug)
    back = safe_back(request, app)
    try:
        services.fix_start(app=app, user=request.user, kind=request.POST.get("kind", "")[:20],
                           ref=request.POST.get("ref", "")[:100])
    except MgxError as exc:
        messages.error(request, f"Not sent to the team: {exc}")
        return redirect(back)
    return redirect(reverse("studio:detail", args=[app.slug]) + "?tab=chat")


def safe_back(request, app) -> str:
    """The session page's tab the request came from (only a tab of this app's page)."""
    tab = request.POST.get("tab", "")
    return reverse("studio:detail", args=[app.slug]) + (f"?tab={tab}" if tab.isalpha() and len(tab) < 20 else "")


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


# ---------------------------------------------------------------- /admin/model/ (MGX admins only)

ROLE_LABELS = {"team_leader": "Team leader", "product_manager": "Product manager", "architect": "Architect",
               "engineer": "Engineer", "qa": "QA"}


def admins_only(view):
    """Anonymous: to the login page. Logged in but not an MGX admin (staff): 403, saying who
    sets the model."""
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            return render(request, "core/error.html", {"title": "Only for MGX admins", "status": 403,
                                                       "message": "Only MGX admins set the team's model."}, status=403)
        return view(request, *args, **kwargs)
    return wrapped


def _page(request, *, config=None, errors=None, typed=None, check=None, status=200):
    config = config or selectors.model_config()
    stored = config.stored
    typed = typed or {}

    def shown(name: str, source_key: str, stored_value: str) -> dict:
        from_env = config.sources.get(source_key) == selectors.ENVIRONMENT
        value = typed.get(name, stored_value) if not from_env else ""
        return {"name": name, "value": value, "from_env": from_env, "error": (errors or {}).get(name, ""),
                "in_force": getattr(config, source_key, "") if not source_key.startswith("role:")
                else config.role_models.get(source_key[5:], "")}

    roles = [{**shown(f"model_{role}", f"role:{role}", (stored.role_models or {}).get(role, "") if stored else ""),
              "label": ROLE_LABELS[role], "env": f"MGX_LLM_MODEL_{role.upper()}"} for role in ROLES]
    return render(request, "agents/model_settings.html", {
        "nav": "model", "config": config, "check": check, "errors": errors or {}, "default_model": DEFAULT_MODEL,
        "base_url": shown("base_url", "base_url", stored.base_url if stored else ""),
        "model": shown("model", "model", stored.model if stored else ""),
        "key_from_env": config.sources.get("api_key") == selectors.ENVIRONMENT,
        "key_stored": bool(stored and stored.api_key_sealed), "roles": roles,
        "roles_open": any(r["value"] or r["from_env"] for r in roles),
        "roles_in_force": [(ROLE_LABELS[role], name) for role, name in config.role_models.items()],
    }, status=status)


@never_cache
@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
@admins_only
@sensitive_variables("api_key")
def model_settings(request):
    if request.method == "GET":
        return _page(request)
    config = selectors.model_config()
    stored = config.stored

    def posted(name: str, source_key: str, stored_value: str) -> str:
        # A value the environment sets is not on the form (it wins anyway): keep what is stored.
        return stored_value if config.sources.get(source_key) == selectors.ENVIRONMENT else request.POST.get(name, "")

    roles_stored = (stored.role_models or {}) if stored else {}
    typed = {"base_url": posted("base_url", "base_url", stored.base_url if stored else ""),
             "model": posted("model", "model", stored.model if stored else "")}
    for role in ROLES:
        typed[f"model_{role}"] = posted(f"model_{role}", f"role:{role}", roles_stored.get(role, ""))
    api_key = request.POST.get("api_key", "")
    try:
        services.model_settings_save(
            base_url=typed["base_url"], model=typed["model"],
            role_models={role: typed[f"model_{role}"] for role in ROLES}, by=request.user,
            api_key="" if config.sources.get("api_key") == selectors.ENVIRONMENT else api_key,
            clear_key=request.POST.get("clear_key") == "1")
    except Invalid as exc:
        # The key typed is never sent back: the form asks for it again.
        return _page(request, config=config, errors={exc.field or "form": str(exc)}, typed=typed,
                     status=http_status(exc))
    messages.success(request, "Saved. The next run uses it; no restart needed.")
    return redirect("admin_model")


@never_cache
@require_POST
@admins_only
def model_settings_test(request: HtmxHttpRequest):
    """One small chat completion to the endpoint as saved, from MGX's host; the answer or what
    went wrong."""
    check = services.model_endpoint_test()
    if request.htmx:
        return render(request, "agents/model_settings.html#test-result", {"check": check})
    return _page(request, check=check)
