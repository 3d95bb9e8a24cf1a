"""Changes to an app's workspace. Each one holds the workspace lock (the agent, the editor in
several tabs and the API may write at once), goes through `Workspace` for path safety, and
ends as a git commit that says who did what."""
from __future__ import annotations

import fcntl
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from django.conf import settings

from . import git
from .fs import FileContent, Workspace, WorkspaceError

TEXT_SUFFIXES = {".md", ".txt", ".json", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".py", ".css", ".html",
                 ".toml", ".cfg", ".ini", ".yml", ".yaml", ".env", ".example", ".gitignore", ".dockerignore"}


def workspace_for(app) -> Workspace:
    return Workspace(Path(settings.MGX_WORKSPACE_ROOT) / app.slug, max_file_bytes=settings.MGX_WORKSPACE_MAX_FILE_BYTES)


@contextmanager
def _locked(ws: Workspace):
    lock_path = ws.root / ".git" / "mgx-write.lock"
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _who(user) -> str:
    return getattr(user, "get_username", lambda: str(user))() if user is not None else "MGX"


def workspace_create(*, app, template_dir: Path, author: str = "MGX") -> Workspace:
    """Copy the framework's template into a new workspace, fill in the app's name, first commit."""
    ws = workspace_for(app)
    if ws.root.exists():
        raise WorkspaceError(f"A workspace for '{app.slug}' already exists on disk.")
    ws.root.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template_dir, ws.root, symlinks=True, ignore=shutil.ignore_patterns("node_modules", "__pycache__", ".venv"))
    for path in ws.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_SUFFIXES):
            text = path.read_text(encoding="utf-8")
            filled = text.replace("__APP_NAME__", app.name).replace("__APP_SLUG__", app.slug)
            if filled != text:
                path.write_text(filled, encoding="utf-8")
    git.init(ws.root)
    git.commit_all(ws.root, message=f"Create {app.name} from the {app.get_framework_display()} template", author=author)
    return ws


def workspace_delete(*, app) -> None:
    shutil.rmtree(workspace_for(app).root, ignore_errors=True)


def file_write(*, app, path: str, content: bytes | str | Iterable[bytes], user, base_version: str | None = None,
               create_only: bool = False, verb: str | None = None) -> FileContent:
    ws = workspace_for(app)
    data = content.encode("utf-8") if isinstance(content, str) else content
    with _locked(ws):
        existed = ws.current_version(path) is not None
        written = ws.write(path, data, base_version=base_version, create_only=create_only)
        verb = verb or ("Edit" if existed else "Create")
        git.commit_all(ws.root, message=f"{verb} {written.path}", author=_who(user))
    return written


def dir_create(*, app, path: str, user) -> str:
    ws = workspace_for(app)
    with _locked(ws):
        made = ws.mkdir(path)
        # Git does not track empty folders; a .gitkeep makes the folder part of history.
        ws.write(f"{made}/.gitkeep", b"")
        git.commit_all(ws.root, message=f"Create folder {made}", author=_who(user))
    return made


def entry_move(*, app, src: str, dst: str, user) -> str:
    ws = workspace_for(app)
    with _locked(ws):
        moved = ws.move(src, dst)
        git.commit_all(ws.root, message=f"Rename {ws.clean(src)} to {moved}", author=_who(user))
    return moved


def entry_delete(*, app, path: str, user) -> str:
    ws = workspace_for(app)
    with _locked(ws):
        gone = ws.delete(path)
        git.commit_all(ws.root, message=f"Delete {gone}", author=_who(user))
    return gone


def workspace_commit(*, app, message: str, author: str) -> git.Commit | None:
    """Commit whatever changed in the workspace (the agent's files, the dev container's), under
    the workspace lock. None when nothing changed."""
    ws = workspace_for(app)
    with _locked(ws):
        return git.commit_all(ws.root, message=message, author=author)


def version_restore(*, app, sha: str, user) -> git.Commit | None:
    ws = workspace_for(app)
    with _locked(ws):
        return git.restore(ws.root, sha, author=_who(user))
