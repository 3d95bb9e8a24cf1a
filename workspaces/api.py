"""`/api/workspaces/{slug}/entries` and `/files`: an app's workspace for the editor, scripts and
the agent. Path errors (WorkspaceError and kin, domain errors) are answered by core.api's translator."""
from typing import Literal

from django.http import HttpResponse
from ninja import Router, Schema

from core.api import ErrorBody, errors
from sessions_app.selectors import app_for_user

from . import selectors, services

router = Router(tags=["workspaces"])


class EntryOut(Schema):
    name: str
    path: str
    type: Literal["dir", "file"]
    size: int


class EntriesOut(Schema):
    path: str
    entries: list[EntryOut]


class FileOut(Schema):
    path: str
    size: int
    version: str
    binary: bool
    content: str | None  # null for binary files: they are never decoded into garbage


class FileIn(Schema):
    content: str
    # The version this edit is based on (from GET); "" creates only when absent; omitted overwrites.
    version: str | None = None


class FileWrittenOut(Schema):
    path: str
    version: str
    size: int


class ConflictOut(Schema):
    """409 on a write: the file changed since `version`; `current` is what is on disk now."""

    error: ErrorBody
    current: FileOut | None = None


@router.get("/workspaces/{slug}/entries", response={200: EntriesOut, **errors(400, 404)},
            url_name="workspace_entries", summary="List a folder",
            description="Folders first. `path` is relative to the workspace root (\"\" for the root).")
def entries(request, slug: str, path: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    return {"path": path, "entries": [e.as_dict() for e in selectors.entries_list(app=app, path=path)]}


@router.get("/workspaces/{slug}/files", response={200: FileOut, **errors(400, 404, 413)},
            url_name="workspace_files", summary="Read a file",
            description="Text comes back in `content` with its `version`; binary files are flagged with "
                        "`content: null`; files over the size limit get 413 (download them from the session page).")
def file_read(request, slug: str, path: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    return selectors.file_read(app=app, path=path).as_dict()


@router.put("/workspaces/{slug}/files",
            response={200: FileWrittenOut, 409: ConflictOut, **errors(400, 404, 413, 422, 507)},
            url_name="workspace_file_write", summary="Write a file",
            description="Atomic; committed to the app's history. With `version`, refused with 409 (and the "
                        "current content) when the file changed since.")
def file_write(request, slug: str, payload: FileIn, path: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    written = services.file_write(app=app, path=path, content=payload.content, user=request.user,
                                  base_version=payload.version)
    return {"path": written.path, "version": written.version, "size": written.size}


@router.delete("/workspaces/{slug}/files", response={204: None, **errors(400, 404)},
               url_name="workspace_file_delete", summary="Delete a file or folder",
               description="Committed to the app's history.")
def file_delete(request, slug: str, path: str = ""):
    app = app_for_user(user=request.user, slug=slug)
    services.entry_delete(app=app, path=path, user=request.user)
    return HttpResponse(status=204)
