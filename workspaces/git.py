"""Git history of a workspace, through the git command line.

The workspace is written by the agent, the owner and the app's dev container, so nothing in it
may configure the git MGX runs:
- The git directory lives outside the workspace, `MGX_GIT_ROOT/<slug>.git`, reached only through
  `GIT_DIR` + `GIT_WORK_TREE`; no container mounts it. Its config is written by MGX alone (a
  root-owned file when MGX is root), and defines no hooks, filters or diff/merge drivers.
- Every call runs with a private empty HOME, no system or global config, no system attributes,
  and `-c` overrides for every setting that runs a command (fsmonitor, hooks). `info/attributes`
  in the git directory (the highest-precedence attributes file) unsets filter/diff/merge/text
  conversions, so a `.gitattributes` in the workspace cannot name a driver or change bytes.
- A folder holding its own `.git` (a nested repository) is never staged: git would record it as
  a submodule and, on the next `git add`, run `git status` inside it under that repository's
  own config. Such folders stay out of MGX's history (see `_stage_all`).
- When MGX runs as root, git runs as the app user (`owner.app_uid()`), which owns the git
  directory: a git bug or a symlink race cannot reach files only root may read.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from django.conf import settings

from core import owner

from .fs import WorkspaceError

log_ = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
MAX_DIFF_BYTES = 400_000
GITLINK = "160000"
SYMLINK = "120000"

# -c settings on every call. Command-line config beats every config file, and git hands it on to
# any git it starts itself.
_FLAGS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.attributesFile=/dev/null",
    "-c", "core.excludesFile=/dev/null",
    "-c", "core.untrackedCache=false",
    "-c", "core.splitIndex=false",
    "-c", "core.sharedRepository=false",
    "-c", "commit.gpgsign=false",
    "-c", "log.showSignature=false",
    "-c", "core.quotepath=off",
    "-c", "safe.directory=*",
    "-c", "submodule.recurse=false",
    "-c", "diff.ignoreSubmodules=all",
    "-c", "status.submoduleSummary=false",
    "-c", "gc.autoDetach=false",
    "-c", "maintenance.autoDetach=false",
    "-c", "protocol.allow=never",
)

# The whole config of every MGX repository. No include, no hooksPath, no worktree, no driver.
CLEAN_CONFIG = """\
[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = true
\tsymlinks = true
[user]
\tname = MGX
\temail = mgx@localhost
"""

# Highest-precedence attributes: whatever a .gitattributes in the workspace says, no path gets
# a filter, diff or merge driver, and bytes are stored as they are.
CLEAN_ATTRIBUTES = "* !filter !diff !merge !text !eol !ident !working-tree-encoding\n"


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


# ---------------------------------------------------------------------------- where things live

def git_root() -> Path:
    return Path(settings.MGX_GIT_ROOT)


def git_dir(root: Path) -> Path:
    """The history of the workspace at `<MGX_WORKSPACE_ROOT>/<slug>`: `<MGX_GIT_ROOT>/<slug>.git`."""
    return git_root() / f"{Path(root).name}.git"


def lock_path(slug: str) -> Path:
    return git_root() / f"{slug}.lock"


def _home() -> Path:
    # '.home' cannot be an app's slug (slugs start with a letter or digit).
    return git_root() / ".home"


_prepared: set[str] = set()


def prepare_root() -> None:
    """MGX_GIT_ROOT and the private empty HOME exist, and the app user can reach them."""
    base = git_root()
    if str(base) in _prepared and base.is_dir():
        return
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o711)  # the app user may enter (its repositories are in here), not list
    home = _home()
    home.mkdir(exist_ok=True)
    os.chmod(home, 0o555)
    if os.listdir(home):  # HOME stays empty: nothing in it is ever read
        shutil.rmtree(home)
        home.mkdir(mode=0o555)
    _grant_search(base)
    _prepared.add(str(base))


def _grant_search(path: Path) -> None:
    """Git runs as the app user, so it must be able to pass through every folder above the git
    root and the workspaces. Only search permission (x) is added, never read: files there keep
    their own modes (var/secret_key stays root's alone)."""
    if os.geteuid() != 0:
        return
    uid = owner.app_uid()
    for folder in [*reversed(Path(path).resolve().parents), Path(path).resolve()]:
        st = os.stat(folder)
        if st.st_uid == uid and st.st_mode & stat.S_IXUSR or st.st_gid == uid and st.st_mode & stat.S_IXGRP:
            continue
        if not st.st_mode & stat.S_IXOTH:
            log_.warning("Letting the app user (uid %s) pass through %s so host git can run unprivileged", uid, folder)
            os.chmod(folder, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


# ---------------------------------------------------------------------------- running git

def _env(root: Path | None, *, gd: Path | None = None) -> dict[str, str]:
    """The whole environment of a git call. Without `root` git works on the repository alone."""
    home = str(_home())
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "GIT_DIR": str(gd or git_dir(root)),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "false",
        "LC_ALL": "C.UTF-8",
    }
    if root is not None:
        env["GIT_WORK_TREE"] = str(root)
    return env


def _as_app_user() -> dict:
    if os.geteuid() != 0:
        return {}
    uid = owner.app_uid()
    return {"user": uid, "group": uid, "extra_groups": [], "umask": 0o022}


def _sandbox(*, root: Path | None, gd: Path) -> list[str]:
    """bubblewrap around git: a private root holding only the system's programs, the work tree
    (read-only: git only reads it; restores write through `Workspace`), the git directory and the
    empty HOME, with no network. A folder that a container swaps for a symlink to a host path
    while `git add` walks it then leads nowhere: no host file exists in git's world."""
    bwrap = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if bwrap is None:
        raise GitError("MGX needs bubblewrap to run git safely (Debian: apt-get install bubblewrap).")
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for name in ("bin", "lib", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    home = str(_home())
    argv += ["--ro-bind", home, home, "--bind", str(gd), str(gd)]
    if root is not None:
        argv += ["--ro-bind", str(root), str(root), "--chdir", str(root)]
    else:
        argv += ["--chdir", home]
    return [*argv, "--", "git", *_FLAGS]


def _git(root: Path, *args: str, check: bool = True, input: str | bytes | None = None,
         binary: bool = False) -> subprocess.CompletedProcess:
    root = Path(root)
    ensure_repo(root)
    done = subprocess.run(
        [*_sandbox(root=root, gd=git_dir(root)), *args],
        cwd=root, capture_output=True, text=not binary, input=input, timeout=120,
        env=_env(root), **_as_app_user(),
    )
    if check and done.returncode != 0:
        err = done.stderr if not binary else done.stderr.decode("utf-8", "replace")
        out = done.stdout if not binary else ""
        raise GitError(err.strip() or out.strip())
    return done


# ---------------------------------------------------------------------------- the repository

def ensure_repo(root: Path) -> None:
    """The one place a workspace's repository comes into being: a fresh one, or the history of
    an older MGX moved out of `<workspace>/.git` (see `_migrate`). Nothing to do (one stat) once
    the git directory exists; nothing at all for a workspace that is not on disk."""
    gd = git_dir(root)
    if gd.is_dir():
        return
    if not Path(root).is_dir():
        return
    prepare_root()
    _grant_search(Path(root).parent)
    tmp = git_root() / f".{Path(root).name}.git.new-{uuid.uuid4().hex[:12]}"
    try:
        _init_at(tmp)
        old = Path(root) / ".git"
        if old.is_dir() and not old.is_symlink():
            _migrate(old, tmp)
            # Files an older MGX or a root container left as root's must be readable by git
            # (now the app user) and writable by the isolated dev container.
            owner.own_tree(root)
        try:
            # Published in one step: a second process doing the same loses the rename and
            # drops its copy.
            os.rename(tmp, gd)
        except OSError:
            if not gd.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _remove_old_git(Path(root))


def _init_at(gd: Path) -> None:
    subprocess.run(["git", *_FLAGS, "init", "-q", "--bare", "-b", "main", str(gd)], check=True,
                   capture_output=True, env=_env(None, gd=gd), cwd=_home())
    _write_clean_config(gd)


def _write_clean_config(gd: Path) -> None:
    shutil.rmtree(gd / "hooks", ignore_errors=True)
    for name in ("description", "info/exclude"):
        (gd / name).unlink(missing_ok=True)
    owner.own_tree(gd)  # git (as the app user) writes objects, refs and the index
    # What configures git is written by MGX (root's file, 0644); git itself never writes it.
    (gd / "config").unlink(missing_ok=True)
    (gd / "config").write_text(CLEAN_CONFIG)
    os.chmod(gd / "config", 0o644)
    shutil.rmtree(gd / "info", ignore_errors=True)
    (gd / "info").mkdir(mode=0o755)
    (gd / "info" / "attributes").write_text(CLEAN_ATTRIBUTES)
    (gd / "info" / "exclude").write_text("")


def _migrate(old: Path, new: Path) -> None:
    """Bring the history of an older MGX (`<workspace>/.git`, which a container could write) into
    the fresh repository `new`. Only data crosses: objects, refs, HEAD. Config, hooks, index,
    alternates, grafts, info/ and anything that is not a plain file or folder stay behind,
    and files are copied (through descriptors that never follow a symlink), not moved, so a
    container still holding a descriptor into the old folder cannot reach the new one."""
    keep_files = {"HEAD", "packed-refs"}
    keep_dirs = {"objects", "refs", "logs"}
    old_fd = os.open(old, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in keep_files:
            _copy_file(old_fd, name, new / name)
        for name in keep_dirs:
            _copy_dir(old_fd, name, new / name)
    finally:
        os.close(old_fd)
    shutil.rmtree(new / "objects" / "info", ignore_errors=True)  # alternates, commit-graph chains
    (new / "objects" / "info").mkdir(exist_ok=True)
    _write_clean_config(new)
    run = dict(capture_output=True, text=True, env=_env(None, gd=new), cwd=_home(), **_as_app_user())
    git_ = _sandbox(root=None, gd=new)
    head = subprocess.run([*git_, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"], **run)
    if head.returncode != 0:  # no usable history in the old folder: start again from nothing
        shutil.rmtree(new, ignore_errors=True)
        _init_at(new)
        return
    subprocess.run([*git_, "read-tree", head.stdout.strip()], check=True, **run)
    log_.info("Moved the history of %s out of the workspace into %s", old.parent, new)


def _copy_file(dir_fd: int, name: str, dst: Path) -> None:
    try:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.dup(src), "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    finally:
        os.close(src)


def _copy_dir(dir_fd: int, name: str, dst: Path, depth: int = 0) -> None:
    if depth > 32:
        return
    try:
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return
    try:
        dst.mkdir(parents=True, exist_ok=True)
        for entry in os.listdir(sub):
            st = os.stat(entry, dir_fd=sub, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                _copy_dir(sub, entry, dst / entry, depth + 1)
            elif stat.S_ISREG(st.st_mode):
                _copy_file(sub, entry, dst / entry)
    finally:
        os.close(sub)


def _remove_old_git(root: Path) -> None:
    old = root / ".git"
    try:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)  # descriptor-based on Linux: a planted symlink is removed, not followed
        elif os.path.lexists(old):
            old.unlink()
    except OSError:
        log_.warning("Could not remove the old %s", old, exc_info=True)


def init(root: Path) -> None:
    """A fresh repository for a new workspace; history left by an earlier app of the same slug
    (its workspace is gone) does not carry over."""
    root = Path(root)
    gd = git_dir(root)
    if gd.exists():
        shutil.rmtree(gd)
    ensure_repo(root)


def remove(root: Path) -> None:
    shutil.rmtree(git_dir(root), ignore_errors=True)


# ---------------------------------------------------------------------------- history

def _nested_repositories(root: Path) -> list[str]:
    """Untracked folders git takes for repositories of their own (they end with '/')."""
    done = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    return [p for p in done.stdout.split("\0") if p.endswith("/")]


def _stage_all(root: Path) -> None:
    nested = _nested_repositories(root)
    _git(root, "add", "-A", "--", ":/", *[f":(top,exclude,literal){p.rstrip('/')}" for p in nested])
    # A nested repository that appeared between the two commands became a submodule entry:
    # take it out again before anything compares it (which would run git inside it).
    links = [line.split("\t", 1)[1] for line in _git(root, "ls-files", "-z", "--stage").stdout.split("\0")
             if line.startswith(GITLINK + " ")]
    if links:
        _git(root, "update-index", "-z", "--force-remove", "--stdin", input="\0".join(links) + "\0")


def commit_all(root: Path, *, message: str, author: str) -> Commit | None:
    """Commit everything that changed (new, edited, deleted files). None when nothing changed."""
    _stage_all(root)
    if _git(root, "diff", "--cached", "--quiet", "--no-ext-diff", check=False).returncode == 0:
        return None
    safe_author = re.sub(r"[<>\n]", "", author)[:80] or "unknown"
    _git(root, "commit", "-q", "--no-verify", "-m", message, f"--author={safe_author} <{_email(safe_author)}>")
    return log(root, limit=1)[0]


def _email(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]", "-", name.lower()) + "@mgx.local"


def log(root: Path, *, limit: int = 50, path: str | None = None) -> list[Commit]:
    args = ["log", f"-n{limit}", "--no-mailmap", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e"]
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


def commit_paths(root: Path, sha: str) -> list[str]:
    """The paths one commit touched (both sides of a rename), relative to the workspace."""
    done = _git(root, "diff-tree", "-r", "-z", "--root", "--no-commit-id", "--name-only", "--no-renames", sha,
                check=False)
    return [p for p in done.stdout.split("\0") if p] if done.returncode == 0 else []


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
    header = _git(root, "show", "-s", "--no-mailmap", "--format=%H%x1f%an%x1f%aI%x1f%s", full).stdout.strip()
    commit = Commit(*header.split("\x1f", 3))
    patch = _git(root, "show", "--format=", "--patch", "--no-color", "--no-ext-diff", "--no-textconv",
                 "--find-renames", full).stdout
    if len(patch) > MAX_DIFF_BYTES:
        patch = patch[:MAX_DIFF_BYTES] + "\n… (diff cut here: too large to show)\n"
    return commit, patch


def ignored_paths(root: Path, paths: list[str]) -> set[str]:
    """Which of `paths` (relative to the workspace; a folder ends with '/') the workspace's own
    .gitignore files ignore, as git itself decides (`check-ignore`, in the same sandbox and clean
    config as every call: no global or system excludes). A tracked file is never "ignored", so
    what history holds stays in view. An empty set when git cannot say."""
    asked = []
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            continue  # a name git would not be given whole: shown, as before
        if path.strip("/"):
            asked.append(path)
    if not asked:
        return set()
    done = _git(root, "check-ignore", "-z", "--stdin", check=False, input="\0".join(asked) + "\0")
    if done.returncode not in (0, 1):  # 1: none ignored; anything else: git could not say
        log_.warning("git check-ignore in %s: %s", root, done.stderr.strip()[:300])
        return set()
    return {p for p in done.stdout.split("\0") if p}


def changed_paths(root: Path) -> list[tuple[str, bool]]:
    """(path, untracked) of every file git sees as changed, untracked or deleted since the last
    commit; ignored ones (node_modules, say) are not looked at."""
    done = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", check=False)
    records = done.stdout.split("\0") if done.returncode == 0 else []
    paths, i = [], 0
    while i < len(records):
        record = records[i]
        i += 1
        if len(record) < 4:
            continue
        code, path = record[:2], record[3:]
        if "R" in code or "C" in code:
            i += 1  # the old name follows a rename
        paths.append((path, code == "??"))
    return paths


def tree_files(root: Path, rev: str) -> dict[str, tuple[str, str]]:
    """path → (mode, blob id) of every file in version `rev` (folders flattened)."""
    done = _git(root, "ls-tree", "-r", "-z", "--full-tree", rev, binary=True)
    files = {}
    for record in done.stdout.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, _type, blob = meta.decode().split(" ")
        files[path.decode("utf-8", "surrogateescape")] = (mode, blob)
    return files


def blob_chunks(root: Path, blob: str, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The bytes of one stored file, streamed (a version may hold files of any size)."""
    if not re.fullmatch(r"[0-9a-f]{40}", blob):
        raise GitError("That is not a file id.")
    root = Path(root)
    ensure_repo(root)
    proc = subprocess.Popen([*_sandbox(root=root, gd=git_dir(root)), "cat-file", "blob", blob], cwd=root, env=_env(root),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **_as_app_user())
    try:
        while data := proc.stdout.read(chunk):
            yield data
        if proc.wait(timeout=60) != 0:
            raise GitError(proc.stderr.read().decode("utf-8", "replace").strip() or "git cat-file failed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def head(root: Path) -> str | None:
    """The full id of the newest commit, or None for a repository with no commit yet."""
    done = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def tree_id(root: Path, sha: str, *, subdir: str = "") -> str:
    """The id of the tree `archive` would pack: equal ids, byte-identical build contexts."""
    full = resolve_commit(root, sha)
    if subdir and (subdir.startswith(("/", "-")) or ".." in subdir.split("/")):
        raise GitError("That is not a folder of the workspace.")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{full}^{{tree}}" if not subdir else f"{full}:{subdir}",
                check=False)
    if done.returncode != 0:
        raise GitError(f"No folder {subdir} in that version." if subdir else "No such version.")
    return done.stdout.strip()


def archive(root: Path, sha: str, *, subdir: str = "") -> bytes:
    """A tar of version `sha` (or of its folder `subdir`), exactly as committed: what production
    images are built from, never the live folder a container may be changing. Runs in the same
    sandbox and clean environment as every other git call (`-c tar.umask`: modes as stored, no
    world-writable files). A missing `subdir` raises GitError."""
    full = resolve_commit(root, sha)
    if subdir and (subdir.startswith(("/", "-")) or ".." in subdir.split("/")):
        raise GitError("That is not a folder of the workspace.")
    spec = f"{full}:{subdir}" if subdir else full
    done = _git(root, "-c", "tar.umask=022", "archive", "--format=tar", spec, check=False, binary=True)
    if done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", "replace").strip() or "git archive failed")
    return done.stdout
