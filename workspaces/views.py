"""The Files and History tabs of the session page: lazy file tree, file operations from the
tree, downloads, history with diffs and restore. The editor itself talks to the JSON API."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import http_status
from core.htmx import HtmxHttpRequest
from core.streams import in_thread
from sessions_app.selectors import app_for_user

from . import selectors, services
from .fs import WorkspaceError


def _show_ignored(request) -> bool:
    """The tree's "Show ignored" toggle: on the tree's own requests (GET) and on the changes made
    from it (POST, which answer with the tree)."""
    return (request.GET.get("ignored") or request.POST.get("ignored")) == "1"


def _tree(request, app, path="", *, error=None, status=200):
    show_ignored = _show_ignored(request)
    try:
        entries, hidden = selectors.tree_entries(app=app, path=path, show_ignored=show_ignored)
    except WorkspaceError as exc:
        entries, hidden, error, status = [], [], error or str(exc), http_status(exc)
    return render(
        request,
        "workspaces/tree.html",
        {"app": app, "entries": entries, "hidden": hidden, "show_ignored": show_ignored, "dir": path,
         "error": error, "root": not path},
        status=status,
    )


@login_required
@require_GET
def tree(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    return _tree(request, app, request.GET.get("path", ""))


def _tab_url(app, tab: str) -> str:
    return reverse("studio:detail", args=[app.slug]) + f"?tab={tab}"


def _after_change(request: HtmxHttpRequest, app, *, error=None):
    """HTMX callers get the refreshed root tree (422 + message on error, which htmx is set to
    swap); plain form posts go back to the Files tab with a flash message."""
    if request.htmx:
        return _tree(request, app, "", error=error, status=422 if error else 200)
    if error:
        messages.error(request, error)
    return redirect(_tab_url(app, "files"))


def _prompt(request: HtmxHttpRequest, field):
    return (request.htmx.prompt if request.htmx and request.htmx.prompt is not None else request.POST.get(field, "")).strip()


def _tree_change(request: HtmxHttpRequest, slug, change):
    """Run one change from the tree (or a plain form), then answer with the refreshed tree."""
    app = app_for_user(user=request.user, slug=slug)
    try:
        change(app)
    except WorkspaceError as exc:
        return _after_change(request, app, error=str(exc))
    return _after_change(request, app)


@login_required
@require_POST
def entry_create(request: HtmxHttpRequest, slug):
    path = _prompt(request, "path")
    if request.POST.get("kind", "file") == "dir":
        return _tree_change(request, slug, lambda app: services.dir_create(app=app, path=path, user=request.user))
    return _tree_change(request, slug, lambda app: services.file_write(
        app=app, path=path, content=b"", user=request.user, create_only=True))


@login_required
@require_POST
def entry_rename(request: HtmxHttpRequest, slug):
    src, dst = request.POST.get("path", ""), _prompt(request, "to")
    return _tree_change(request, slug, lambda app: services.entry_move(app=app, src=src, dst=dst, user=request.user))


@login_required
@require_POST
def entry_delete(request: HtmxHttpRequest, slug):
    path = request.POST.get("path", "")
    return _tree_change(request, slug, lambda app: services.entry_delete(app=app, path=path, user=request.user))


@login_required
@require_POST
def upload(request: HtmxHttpRequest, slug):
    upload = request.FILES.get("file")
    if upload is None:
        return _after_change(request, app_for_user(user=request.user, slug=slug), error="Choose a file to upload.")
    folder = request.POST.get("dir", "").strip().strip("/")
    target = f"{folder}/{upload.name}" if folder else upload.name
    return _tree_change(request, slug, lambda app: services.file_write(
        app=app, path=target, content=upload.chunks(), user=request.user, verb="Upload"))


@login_required
@require_GET
def download(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    path = request.GET.get("path", "")
    try:
        fh = selectors.file_open(app=app, path=path)
    except WorkspaceError as exc:
        return HttpResponse(str(exc), status=http_status(exc), content_type="text/plain; charset=utf-8")
    response = FileResponse(fh, as_attachment=True, filename=path.rsplit("/", 1)[-1])
    # FileResponse's own iterator is synchronous, which Django's ASGI handler reads whole before
    # sending: the file goes out a piece at a time instead, at the client's pace (core.streams).
    response.streaming_content = in_thread(iter(lambda: fh.read(1 << 20), b""))
    return response


@login_required
@require_GET
def download_zip(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    # Over MGX_WORKSPACE_ZIP_MAX_BYTES: WorkspaceTooLarge, shown as a 413 page that says why.
    chunks = selectors.workspace_zip_stream(app=app)
    response = StreamingHttpResponse(in_thread(chunks), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{app.slug}.zip"'
    return response


@login_required
@require_GET
def version_detail(request, slug, sha):
    app = app_for_user(user=request.user, slug=slug)
    try:
        commit, patch = selectors.version_show(app=app, sha=sha)
    except WorkspaceError as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")
    return render(request, "workspaces/diff.html", {"app": app, "commit": commit, "lines": _diff_lines(patch)})


def _diff_lines(patch: str):
    for line in patch.splitlines():
        if line.startswith("diff --git"):
            kind = "file"
        elif line.startswith(("+++", "---", "index ", "new file", "deleted file", "similarity", "rename ")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        yield kind, line


@login_required
@require_POST
def version_restore(request, slug, sha):
    app = app_for_user(user=request.user, slug=slug)
    try:
        commit = services.version_restore(app=app, sha=sha, user=request.user)
    except WorkspaceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Restored to version {sha[:8]}." if commit else "Already at that version; nothing changed.")
    return redirect(_tab_url(app, "history"))
