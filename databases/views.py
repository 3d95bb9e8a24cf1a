"""The session page's Database tab: `/sessions/<slug>/db/…`. Every view checks the user may
touch the app (`app_for_user`), calls the same selectors and services as the API, and answers
HTMX with the tab's panel re-rendered (the refusal shown in it, the user's input kept); a plain
request is redirected back to the tab with a message."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import Invalid, MgxError, TooLarge
from core.streams import in_thread
from sessions_app.selectors import app_for_user

from . import checks, selectors, services


def _tab_url(app, query: dict) -> str:
    kept = {k: v for k, v in query.items() if v}
    return reverse("studio:detail", args=[app.slug]) + "?" + urlencode({"tab": "database", **kept})


def _answer(request, app, *, query, error=None, notice=None, drafts=None, status=200):
    if request.htmx:
        context = selectors.database_tab(app=app, query=query, error=error, notice=notice, drafts=drafts)
        return render(request, "databases/panel.html#panel", context, status=status)
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return redirect(_tab_url(app, query))


def _act(request, slug, action, *, notice, drafts=None, query_update=None):
    app = app_for_user(user=request.user, slug=slug)
    query = selectors.database_query(request.POST)
    try:
        result = action(app, query)
    except MgxError as exc:
        # 422 whatever the kind: base.html has htmx swap only 2xx/3xx and 422 into the page, and
        # the panel with the refusal in it (and the input kept) is the answer to show.
        return _answer(request, app, query=query, error=str(exc), drafts=drafts, status=422)
    if query_update:
        query.update(query_update(result, query))
    return _answer(request, app, query=query, notice=notice(result) if callable(notice) else notice)


@login_required
@require_GET
def panel(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    context = selectors.database_tab(app=app, query=selectors.database_query(request.GET))
    return render(request, "databases/panel.html#panel", context,
                  status=422 if context.get("read_failed") and context["q"]["collection"] else 200)


@login_required
@require_POST
def collection_create(request, slug):
    name = (request.POST.get("name") or "").strip()
    return _act(request, slug, lambda app, q: services.collection_create(app=app, name=name),
                notice=f"Created the collection “{name}”.", drafts={"new_collection": name},
                query_update=lambda _r, q: {"collection": name, "filter": "", "sort": "", "projection": "", "skip": ""})


@login_required
@require_POST
def collection_drop(request, slug):
    name = request.POST.get("collection", "")
    return _act(request, slug, lambda app, q: services.collection_drop(app=app, name=name,
                                                                       confirm=request.POST.get("confirm", "")),
                notice=f"Dropped the collection “{name}” and its documents.",
                query_update=lambda _r, q: {"collection": ""})


@login_required
@require_POST
def document_insert(request, slug):
    text = request.POST.get("document", "")
    return _act(request, slug, lambda app, q: services.document_insert(app=app, collection=q["collection"], document=text),
                notice=lambda new_id: f"Inserted a document (_id {checks.id_text(new_id)}).",
                drafts={"insert": text})


@login_required
@require_POST
def document_save(request, slug):
    text, raw_id = request.POST.get("document", ""), request.POST.get("id", "")

    def save(app, q):
        return services.document_replace(app=app, collection=q["collection"], document_id=checks.document_id(raw_id),
                                         document=text)

    return _act(request, slug, save, notice="Saved the document.", drafts={"edit_id": raw_id, "edit": text})


@login_required
@require_POST
def document_delete(request, slug):
    raw_id = request.POST.get("id", "")
    return _act(request, slug, lambda app, q: services.document_delete(
        app=app, collection=q["collection"], document_id=checks.document_id(raw_id)), notice="Deleted the document.")


@login_required
@require_POST
def index_create(request, slug):
    keys = request.POST.get("keys", "")
    return _act(request, slug, lambda app, q: services.index_create(
        app=app, collection=q["collection"], keys=keys, unique=request.POST.get("unique") == "on",
        ttl_seconds=request.POST.get("ttl_seconds") or None),
        notice=lambda made: f"Created the index “{made}”.",
        drafts={"keys": keys, "unique": request.POST.get("unique") == "on", "ttl": request.POST.get("ttl_seconds", "")})


@login_required
@require_POST
def index_drop(request, slug):
    name = request.POST.get("index", "")
    return _act(request, slug, lambda app, q: services.index_drop(app=app, collection=q["collection"], name=name),
                notice=f"Dropped the index “{name}”.")


@login_required
@require_POST
def documents_import(request, slug):
    upload = request.FILES.get("file")
    skip_bad = request.POST.get("skip_bad") == "on"

    def run(app, q):
        if upload is None:
            raise Invalid("Choose a JSON lines file to import.", field="file")
        if upload.size > services.IMPORT_MAX_BYTES:
            raise TooLarge(f"The file is {upload.size:,} bytes; an import takes at most "
                                    f"{services.IMPORT_MAX_BYTES:,}.", field="file")
        return services.documents_import(app=app, collection=q["collection"], data=upload.read(), skip_bad=skip_bad)

    def said(result):
        text = f"Imported {result.imported} document{'s' if result.imported != 1 else ''}."
        if result.skipped:
            text += " Skipped " + "; ".join(f"line {n}: {why}" for n, why in result.skipped[:10])
            text += f" (and {len(result.skipped) - 10} more)." if len(result.skipped) > 10 else "."
        return text

    return _act(request, slug, run, notice=said)


@login_required
@require_GET
def export(request, slug):
    app = app_for_user(user=request.user, slug=slug)
    name = request.GET.get("collection", "")
    lines = selectors.export_lines(app=app, collection=name)
    # in_thread: Django's ASGI handler would read a synchronous iterator whole first (core.streams).
    response = StreamingHttpResponse(in_thread(lines), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.jsonl"'
    return response
