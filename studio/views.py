"""The pages a person works in: the dashboard, New app, the session page and its tabs (each tab's
context composed from the other apps' selectors), one trace as a page, Delete, and /healthz."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.authentication import request_user
from accounts.selectors import app_members, ssh_keys_for
from accounts.views import app_users_context
from agents import selectors as agent_selectors
from core.errors import LimitReached, MgxError
from core.health import may_see_health_details, system_health
from core.htmx import HtmxHttpRequest
from databases import selectors as database_selectors
from databases.selectors import database_query, database_tab
from deployments.selectors import app_badges, dev_for_app, output_targets, prod_at_a_glance, prod_tab, ssh_access
from observability import selectors as observability_selectors
from sessions_app import selectors
from sessions_app.models import App
from workspaces.selectors import history_list, workspace_usage

from . import services
from .tabs import TABS


def _tab_url(app, tab: str) -> str:
    return reverse("studio:detail", args=[app.slug]) + f"?tab={tab}"


@login_required
def dashboard(request):
    # One query for the apps (each row's last change is stored on commit: workspaces.models.
    # LastChange), three for their production state.
    apps = list(selectors.apps_for_user(user=request.user))
    _with_prod(apps)
    return render(request, "studio/dashboard.html", {"nav": "apps", "apps": apps})


def _with_prod(apps) -> None:
    glance = prod_at_a_glance(apps=apps)
    for app in apps:
        app.prod = glance[app.pk]


@login_required
def all_apps(request):
    """Every user's apps, for MGX admins: owner, dev and prod state, disk used, with a search."""
    if not request.user.is_staff:
        raise Http404("No such page.")
    text = (request.GET.get("q") or "").strip()[:100]
    apps = list(selectors.apps_search(text=text))
    _with_prod(apps)
    for app in apps:
        app.disk = workspace_usage(app=app)
    return render(request, "studio/all_apps.html", {"nav": "all-apps", "apps": apps, "q": text})


@login_required
def system_status(request):
    # Loaded by HTMX after the page: the Celery ping waits up to a second and must not hold
    # up the dashboard itself.
    return render(request, "studio/dashboard.html#services",
                  {"services": system_health(), "show_details": may_see_health_details(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def session_new(request):
    values = {"name": "", "slug": "", "framework": App.Framework.NEXTJS, "description": ""}
    errors = {}
    refused = ""  # a refusal that is about no field (a per-user limit)
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in values}
        try:
            app = services.app_create(owner=request.user, **values)
        except ValidationError as exc:
            errors = exc.message_dict
        except LimitReached as exc:
            refused = str(exc)
        else:
            return redirect("studio:detail", slug=app.slug)
    return render(
        request,
        "studio/new.html",
        {"nav": "apps", "values": values, "errors": errors, "refused": refused,
         "frameworks": App.Framework.choices},
        status=409 if refused else 422 if errors else 200,
    )


@login_required
@require_http_methods(["POST"])
def session_delete(request, slug):
    app = selectors.app_for_user(user=request.user, slug=slug)
    if request.POST.get("confirm", "").strip() != app.slug:
        messages.error(request, f"Type the app's address “{app.slug}” to confirm; nothing was deleted.")
        return redirect(_tab_url(app, "files"))
    try:
        services.app_delete(app=app, by=request.user.get_username())
    except services.AppDeleteError as exc:
        messages.error(request, str(exc))
        return redirect(_tab_url(app, "files"))
    messages.success(request, f"Deleted {app.name}: its containers, conversation, users and workspace are gone.")
    return redirect("studio:dashboard")


@login_required
@require_GET
def session_delete_preview(request, slug):
    """What Delete will take with it, shown when its dialog opens: the live production address,
    the app's database and its users, the workspace."""
    app = selectors.app_for_user(user=request.user, slug=slug)
    try:
        collections = database_selectors.collections_list(app=app)
    except MgxError:
        collections = None  # the store is away: say nothing rather than guess
    return render(request, "studio/session.html#delete-preview", {
        "app": app, "badges": app_badges(app=app), "collections": collections,
        "documents": sum(c["count"] for c in collections or []), "members": app_members(app=app).count(),
        "disk": workspace_usage(app=app)})


@login_required
@require_GET
def session_badges(request, slug):
    """The session header's dev and prod badges, re-rendered on the app's status events."""
    app = selectors.app_for_user(user=request.user, slug=slug)
    return render(request, "studio/session.html#badges", {"app": app, "badges": app_badges(app=app)})


@login_required
def session_detail(request: HtmxHttpRequest, slug):
    app = selectors.app_for_user(user=request.user, slug=slug)
    tab = request.GET.get("tab", "chat")
    if tab not in dict(TABS):
        tab = "chat"
    context = {"app": app, "tab": tab, "tabs": TABS, "open_path": request.GET.get("path", ""),
               "badges": app_badges(app=app)}
    if tab == "chat":
        # The conversation itself is not rendered here: the chat's websocket replays every event
        # on connect. The page only needs what events do not say: totals and run snapshots.
        context.update(
            llm_configured=agent_selectors.model_configured(),
            usage=agent_selectors.usage_for_session(session=app.slug),
            runs=agent_selectors.runs_for_session(session=app.slug),
        )
    if tab == "history":
        context["commits"] = history_list(app=app, limit=100)
    if tab == "dev":
        context.update(dev=dev_for_app(app=app), ssh=ssh_access(app=app))
    if tab in ("logs", "terminal"):
        context["targets"] = output_targets(app=app)
    if tab == "terminal":
        # Read-only by design: the tab points to SSH (the Dev tab's command, or the keys it needs).
        context.update(ssh=ssh_access(app=app), has_ssh_keys=ssh_keys_for(user=request.user).exists())
    if tab == "logs":
        # Two views of one tab: the containers' console output, and the app's OpenTelemetry logs.
        context["logs_view"] = "app" if request.GET.get("view") == "app" else "console"
        if context["logs_view"] == "app":
            context.update(observability_selectors.otel_logs_tab(app=app, params=request.GET))
    if tab == "traces":
        context.update(observability_selectors.traces_tab(app=app, params=request.GET))
    if tab == "prod":
        context.update(prod_tab(app=app), tab=tab, tabs=TABS)
    if tab == "database":
        context.update(database_tab(app=app, query=database_query(request.GET)), tab=tab, tabs=TABS)
    if tab == "users":
        context.update(app_users_context(request, app), tab=tab, tabs=TABS)
    if request.htmx and request.htmx.target == "tab-body":
        return render(request, f"studio/session.html#tab-{tab}", context)
    return render(request, "studio/session.html", context)


@login_required
@require_GET
def trace_page(request, slug, trace_id):
    """One trace: in the Traces tab (HTMX) or as a page of the session."""
    app = selectors.app_for_user(user=request.user, slug=slug)
    detail = (observability_selectors.trace_detail(app=app.slug, trace_id=trace_id)
              if observability_selectors.TRACE_ID.match(trace_id) else None)
    if detail is None:
        raise Http404("No such trace (it may be older than this app's retention).")
    context = {"app": app, "trace": detail}
    if request.htmx:
        return render(request, "observability/traces.html#trace-view", context)
    return render(request, "observability/trace_page.html", {**context, "tab": "traces", "tabs": TABS})


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
