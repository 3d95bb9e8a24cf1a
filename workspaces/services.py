"""Changes to an app's workspace. Each one holds the workspace lock (the agent, the editor in
several tabs and the API may write at once), goes through `Workspace` for path safety, and
ends as a git commit that says who did what. Every commit goes through `_commit` here: it saves
the app's `LastChange` (what the dashboard shows, see workspaces.models) and the change is
announced as `workspace.changed` (the paths, and who: a username or "agent")."""
from __future__ import annotations

import fcntl
import shutil
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Iterable

from django.conf import settings

from core import owner
from core.announce import announce

from . import git, quota
from .fs import FileContent, Workspace, WorkspaceError, WorkspaceNotFound
from .models import LastChange

AGENT = "agent"  # who changed the files, in announcements, when the agent team did

TEXT_SUFFIXES = {".md", ".txt", ".json", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".py", ".css", ".html",
                 ".toml", ".cfg", ".ini", ".yml", ".yaml", ".env", ".example", ".gitignore", ".dockerignore"}


@cache
def _workspaces_root(setting: str) -> Path:
    return Path(setting).resolve()


def workspace_at(*, slug: str) -> Workspace:
    """The one place a workspace's folder is named: `MGX_WORKSPACE_ROOT/<slug>` (also inside the
    agent container, where the root is mounted at the same setting). The root is resolved once
    per process; `<slug>` is a folder MGX makes there (no app reaches MGX_WORKSPACE_ROOT), and
    the workspace opens it with O_NOFOLLOW, so a link there is refused rather than followed."""
    return Workspace(_workspaces_root(settings.MGX_WORKSPACE_ROOT) / slug,
                     max_file_bytes=settings.MGX_WORKSPACE_MAX_FILE_BYTES, resolved=True)


def workspace_for(app) -> Workspace:
    return workspace_at(slug=app.slug)


@contextmanager
def workspace_lock(*, slug: str):
    """The one lock around every change to an app's workspace and its history (the editor in
    several tabs, the API and the agent write at once). It lives next to the git directory,
    `MGX_GIT_ROOT/<slug>.lock`, out of every container's reach."""
    git.prepare_root()
    with open(git.lock_path(slug), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _who(user) -> str:
    return getattr(user, "get_username", lambda: str(user))() if user is not None else "MGX"


def _by(user) -> str:
    """Who changed files, for announcements: a username, or "agent" (a write without a user is
    the agent team's)."""
    return _who(user) if user is not None else AGENT


def _commit(app, ws: Workspace, *, message: str, author: str) -> git.Commit | None:
    """Commit everything that changed and remember it as the app's last change (under the
    workspace lock, so the row always names the repository's HEAD)."""
    commit = git.commit_all(ws.root, message=message, author=author)
    if commit is not None:
        LastChange.objects.update_or_create(app=app, defaults={
            "sha": commit.sha, "author": commit.author[:100], "date": commit.date, "message": commit.message})
    return commit


def _changed(app, *, paths: Iterable[str], by: str) -> None:
    paths = sorted(set(paths))
    if paths:
        announce(slug=app.slug, kind="workspace.changed", data={"paths": paths, "by": by})


def workspace_create(*, app, template_dir: Path, author: str = "MGX") -> Workspace:
    """Copy the framework's template into a new workspace, fill in the app's name, first commit."""
    ws = workspace_for(app)
    if ws.root.exists():
        raise WorkspaceError(f"A workspace for '{app.slug}' already exists on disk.")
    ws.root.parent.mkdir(parents=True, exist_ok=True)
    try:
        quota.disk_make(root=ws.root, slug=app.slug)  # its own file system, MGX_WORKSPACE_QUOTA large
    except quota.QuotaError as exc:
        raise WorkspaceError(f"The workspace could not be made: {exc}") from exc
    shutil.copytree(template_dir, ws.root, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("node_modules", "__pycache__", ".venv"))
    for path in ws.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_SUFFIXES):
            text = path.read_text(encoding="utf-8")
            filled = text.replace("__APP_NAME__", app.name).replace("__APP_SLUG__", app.slug)
            if filled != text:
                path.write_text(filled, encoding="utf-8")
    # The app's container user edits these files (so does host git's user); nothing in a
    # container can reach this folder yet, so plain paths are safe here.
    owner.own_tree(ws.root)
    with workspace_lock(slug=app.slug):
        git.init(ws.root)
        _commit(app, ws, message=f"Create {app.name} from the {app.get_framework_display()} template", author=author)
    return ws


def workspace_delete(*, app) -> None:
    """The workspace, its history and its lock: an app made later with the same slug starts
    with fresh history."""
    ws = workspace_for(app)
    with workspace_lock(slug=app.slug):
        quota.disk_remove(root=ws.root, slug=app.slug)
        shutil.rmtree(ws.root, ignore_errors=True)
        git.remove(ws.root)
    git.lock_path(app.slug).unlink(missing_ok=True)


def workspace_commit(*, app, message: str, author: str) -> git.Commit | None:
    """Commit whatever changed in the workspace (the agent's or the dev container's work), under
    the workspace lock. None when nothing changed. Announced as changed by the agent: only the
    agent's runs commit this way."""
    ws = workspace_for(app)
    with workspace_lock(slug=app.slug):
        commit = _commit(app, ws, message=message, author=author)
        paths = git.commit_paths(ws.root, commit.sha) if commit else []
    _changed(app, paths=paths, by=AGENT)
    return commit


DEV_CONTAINER = "dev container"  # who changed the files, when it happened inside the dev container


def workspace_commit_outside(*, app, message: str = "Changes made in the dev container (SSH or its tools)",
                             unless_only: Iterable[str] = ()) -> git.Commit | None:
    """Commit what changed in the workspace without MGX writing it: an edit over SSH, a file a
    dev tool generated. The editor already reads it from disk; this puts it in History and
    tells open pages (announced as changed by "dev container"). None when nothing changed, or
    when only paths of `unless_only` changed (files the framework rewrites by itself on every
    start, containers.frameworks: they are left for the next commit, which takes everything)."""
    ws = workspace_for(app)
    quiet = set(unless_only)
    with workspace_lock(slug=app.slug):
        changed = git.changed_paths(ws.root)
        if not changed or all(path in quiet for path, _untracked in changed):
            return None
        commit = _commit(app, ws, message=message, author=DEV_CONTAINER)
        paths = git.commit_paths(ws.root, commit.sha) if commit else []
    _changed(app, paths=paths, by=DEV_CONTAINER)
    return commit


def file_write(*, app, path: str, content: bytes | str | Iterable[bytes], user, base_version: str | None = None,
               create_only: bool = False, verb: str | None = None) -> FileContent:
    ws = workspace_for(app)
    data = content.encode("utf-8") if isinstance(content, str) else content
    with workspace_lock(slug=app.slug):
        existed = ws.current_version(path) is not None
        written = ws.write(path, data, base_version=base_version, create_only=create_only)
        verb = verb or ("Edit" if existed else "Create")
        _commit(app, ws, message=f"{verb} {written.path}", author=_who(user))
    _changed(app, paths=[written.path], by=_by(user))
    return written


def dir_create(*, app, path: str, user) -> str:
    ws = workspace_for(app)
    with workspace_lock(slug=app.slug):
        made = ws.mkdir(path)
        # Git does not track empty folders; a .gitkeep makes the folder part of history.
        ws.write(f"{made}/.gitkeep", b"")
        _commit(app, ws, message=f"Create folder {made}", author=_who(user))
    _changed(app, paths=[made], by=_by(user))
    return made


def entry_move(*, app, src: str, dst: str, user) -> str:
    ws = workspace_for(app)
    with workspace_lock(slug=app.slug):
        moved = ws.move(src, dst)
        old = ws.clean(src)
        _commit(app, ws, message=f"Rename {old} to {moved}", author=_who(user))
    _changed(app, paths=[old, moved], by=_by(user))
    return moved


def entry_delete(*, app, path: str, user) -> str:
    ws = workspace_for(app)
    with workspace_lock(slug=app.slug):
        gone = ws.delete(path)
        _commit(app, ws, message=f"Delete {gone}", author=_who(user))
    _changed(app, paths=[gone], by=_by(user))
    return gone


def version_restore(*, app, sha: str, user) -> git.Commit | None:
    """Make the workspace look as it did at `sha`, as a new commit: history keeps everything.

    Git does not touch the workspace here (`git restore` would write through whatever a
    container made of a folder a moment before, a symlink to a host folder included). MGX
    reads each file of that version from git (`ls-tree`, `cat-file`) and writes or deletes it
    through `Workspace`, the one place that guards paths. Files git ignores (node_modules,
    .env, ...) are left as they are, as `git restore` would. Not restored: symbolic links and
    nested repositories (recorded by git, not writable through `Workspace`), and the
    executable bit of a file that must be created again.
    """
    ws = workspace_for(app)
    big = Workspace(ws.root, max_file_bytes=1 << 62)  # an old version may hold any file git took
    who = _who(user)
    with workspace_lock(slug=app.slug):
        full = git.resolve_commit(ws.root, sha)
        # Uncommitted work (from the dev container, say) is committed first, so it stays in history.
        before = _commit(app, ws, message="Changes before a restore", author=who)
        target = git.tree_files(ws.root, full)
        current = git.tree_files(ws.root, "HEAD")
        for path, (mode, _blob) in current.items():
            if path not in target and mode not in (git.GITLINK,):
                try:
                    big.delete(path)
                except WorkspaceNotFound:
                    pass
        for path, (mode, blob) in sorted(target.items()):
            if mode in (git.GITLINK, git.SYMLINK) or current.get(path) == (mode, blob):
                continue
            big.write(path, git.blob_chunks(ws.root, blob))
        # Until every write hands its file to the app user, the restored files are given here.
        owner.own_tree(ws.root)
        restored = _commit(app, ws, message=f"Restore to version {full[:8]}", author=who)
        paths = [p for commit in (before, restored) if commit for p in git.commit_paths(ws.root, commit.sha)]
    _changed(app, paths=paths, by=_by(user))
    return restored
