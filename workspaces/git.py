"""Git history of a workspace, through the git command line.

Every call disables hooks (`core.hooksPath=/dev/null`): the workspace is written by the agent
and by the app's dev container, and a hook planted there must never run on the MGX host.
"""
from __future__ import annotations

import re
from datetime import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .fs import WorkspaceError

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
MAX_DIFF_BYTES = 400_000


class GitError(WorkspaceError):
    """A bad version id or a git failure; the message is safe to show."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str  # ISO 8601
    message: str

    @property
    def short(self) -> str:
        return self.sha[:8]

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.date)


def _git(root: Path, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "core.quotepath=off",
         "-c", "safe.directory=*", *args],
        cwd=root, capture_output=True, text=True, input=input, timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(root), "GIT_TERMINAL_PROMPT": "0",
             "LC_ALL": "C.UTF-8"},
    )
    if check and done.returncode != 0:
        raise GitError(done.stderr.strip() or done.stdout.strip())
    return done


def init(root: Path) -> None:
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "MGX")
    _git(root, "config", "user.email", "mgx@localhost")


def commit_all(root: Path, *, message: str, author: str) -> Commit | None:
    """Commit everything that changed (new, edited, deleted files). None when nothing changed."""
    _git(root, "add", "-A")
    if _git(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    safe_author = re.sub(r"[<>\n]", "", author)[:80] or "unknown"
    _git(root, "commit", "-q", "-m", message, f"--author={safe_author} <{_email(safe_author)}>")
    return log(root, limit=1)[0]


def _email(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]", "-", name.lower()) + "@mgx.local"


def log(root: Path, *, limit: int = 50, path: str | None = None) -> list[Commit]:
    args = ["log", f"-n{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e"]
    if path:
        args += ["--", path]
    done = _git(root, *args, check=False)
    if done.returncode != 0:
        return []  # a repository with no commit yet has no history
    commits = []
    for record in done.stdout.split("\x1e"):
        record = record.strip("\n")
        if record:
            sha, author, date, message = record.split("\x1f", 3)
            commits.append(Commit(sha, author, date, message))
    return commits


def resolve_commit(root: Path, sha: str) -> str:
    if not SHA_RE.match(sha or ""):
        raise GitError("That is not a version id.")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False)
    if done.returncode != 0:
        raise GitError("No such version in this workspace's history.")
    return done.stdout.strip()


def show(root: Path, sha: str) -> tuple[Commit, str]:
    """The commit and its patch (cut at MAX_DIFF_BYTES)."""
    full = resolve_commit(root, sha)
    header = _git(root, "show", "-s", "--format=%H%x1f%an%x1f%aI%x1f%s", full).stdout.strip()
    commit = Commit(*header.split("\x1f", 3))
    patch = _git(root, "show", "--format=", "--patch", "--no-color", "--find-renames", full).stdout
    if len(patch) > MAX_DIFF_BYTES:
        patch = patch[:MAX_DIFF_BYTES] + "\n… (diff cut here: too large to show)\n"
    return commit, patch


def restore(root: Path, sha: str, *, author: str) -> Commit | None:
    """Make the workspace look as it did at `sha`, as a new commit: history keeps everything."""
    full = resolve_commit(root, sha)
    # Uncommitted work (from the dev container, say) is committed first, so it stays in history.
    commit_all(root, message="Changes before a restore", author=author)
    _git(root, "restore", f"--source={full}", "--staged", "--worktree", ":/")
    return commit_all(root, message=f"Restore to version {full[:8]}", author=author)
