from dataclasses import replace

from django.conf import settings

from . import archive, git, quota
from .fs import Entry, FileContent, WorkspaceError
from .services import workspace_for


def entries_list(*, app, path: str = "") -> list[Entry]:
    """Everything in a folder (the API and scripts: nothing left out)."""
    return workspace_for(app).list_dir(path)


def tree_entries(*, app, path: str = "", show_ignored: bool = False) -> tuple[list[Entry], list[Entry]]:
    """A folder as the Files tab's tree shows it: (shown, hidden). What the workspace's .gitignore
    ignores (node_modules/, .next/, dist/, a virtualenv …; git's own check, workspaces.git) is
    hidden unless `show_ignored`, and marked `ignored` either way. Tracked files are never hidden."""
    ws = workspace_for(app)
    entries = ws.list_dir(path)
    ignored = git.ignored_paths(ws.root, [e.path + "/" if e.is_dir else e.path for e in entries])
    marked = [replace(e, ignored=True) if (e.path + "/" if e.is_dir else e.path) in ignored else e for e in entries]
    if show_ignored:
        return marked, []
    return [e for e in marked if not e.ignored], [e for e in marked if e.ignored]


def file_read(*, app, path: str) -> FileContent:
    return workspace_for(app).read(path)


def file_open(*, app, path: str):
    return workspace_for(app).open_for_download(path)


def workspace_usage(*, app) -> quota.Usage:
    """How much of the workspace's disk quota its files take (size 0: no quota)."""
    return quota.usage(root=workspace_for(app).root)


def workspace_zip(*, app) -> bytes:
    """The whole archive in memory, without a cap (downloads stream: workspace_zip_stream)."""
    return b"".join(archive.zip_stream(workspace_for(app), cap=None))


def workspace_zip_stream(*, app):
    """The workspace's .zip as it is made (workspaces.archive). Refuses with WorkspaceTooLarge,
    before anything is read, when its files add up to more than MGX_WORKSPACE_ZIP_MAX_BYTES."""
    ws = workspace_for(app)
    archive.zip_check(ws, cap=settings.MGX_WORKSPACE_ZIP_MAX_BYTES)
    return archive.zip_stream(ws, cap=settings.MGX_WORKSPACE_ZIP_MAX_BYTES)


def history_list(*, app, limit: int = 50, path: str | None = None) -> list[git.Commit]:
    ws = workspace_for(app)
    return git.log(ws.root, limit=limit, path=ws.clean(path) if path else None)


def version_show(*, app, sha: str) -> tuple[git.Commit, str]:
    return git.show(workspace_for(app).root, sha)


def workspace_changes(*, app) -> list[dict]:
    """What changed since the last commit, with each file's current version (None when it is
    gone): how the agent tells what a command changed."""
    ws = workspace_for(app)
    files = []
    for path, untracked in git.changed_paths(ws.root):
        try:
            version = ws.current_version(path)
        except WorkspaceError:
            continue
        files.append({"path": path, "version": version, "untracked": untracked})
    return files
