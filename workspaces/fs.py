"""A workspace directory on disk, reached only through descriptors that start at its root.

All reads and writes of an app's code go through `Workspace`. A path string from a user, the
API or the agent is first cleaned (`Workspace.clean`: no absolute paths, `..`, NUL bytes or
`.git`), then walked one component at a time: each folder is opened relative to the descriptor
of the folder above it with `O_NOFOLLOW`, starting from a descriptor of the workspace root, and
the final entry is opened, created, renamed or removed relative to its folder's descriptor
(`dir_fd=`). No code here opens or stats a joined path string inside the workspace, so the app's
own code (which runs in a container with the workspace mounted) cannot win a race by swapping a
folder for a symlink between a check and a use: whatever it swaps, MGX only ever holds
descriptors of folders it reached inside the workspace.

Symlinks: a relative symlink that stays inside the workspace keeps working. MGX follows it
itself: it reads the link (`readlink` relative to the folder's descriptor) and walks the target
from the descriptors it already holds, where `..` means "the folder MGX came from", never the
kernel's `..`. A link whose target is absolute, climbs above the workspace root or lands in
`.git` is refused with "That path leads outside the workspace (through a symlink)." (or the
`.git` message), and is left out of listings, searches and the zip. Deleting or moving a link
acts on the link itself, never on what it points to. (`openat2` with `RESOLVE_BENEATH` was not
used: it cannot tell which folder a link inside led to, and refusing `.git` reached through an
inner link needs exactly that.)

Writes are atomic: a temporary file is created next to the target (by descriptor), fsynced and
renamed over it, then the folder is fsynced, so a crash mid-write leaves the old file whole.
Everything MGX creates (files, folders) is handed to the app's container user
(`core.owner.own_fd`); rewriting an existing file keeps its owner and mode.

Versions are content hashes: a read returns one, and a write may name the version it was based
on; if the file changed since, the write is refused with `WorkspaceConflict`.
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from core.errors import MgxError
from core.owner import own_fd

BINARY_SNIFF = 8192
# Never shown in listings nor reachable by path (not even through a link inside the workspace):
# git's internals.
HIDDEN = frozenset({".git"})
# Big generated trees are listed but not zipped or searched.
ZIP_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".next", "dist", ".cache"})


class WorkspaceError(MgxError):
    """Base of the errors a user can cause; the message is safe to show."""

    kind = "invalid"


class WorkspacePathError(WorkspaceError):
    kind = "invalid"


class WorkspaceNotFound(WorkspaceError):
    kind = "not_found"


class WorkspaceExists(WorkspaceError):
    kind = "conflict"


class WorkspaceTooLarge(WorkspaceError):
    kind = "too_large"


class WorkspaceFull(WorkspaceError):
    """The workspace's own file system is full (its quota, workspaces.quota)."""

    kind = "full"


class WorkspaceConflict(WorkspaceError):
    """The file changed since the version the writer had read."""

    kind = "conflict"

    def __init__(self, message: str, *, current: "FileContent | None"):
        super().__init__(message)
        self.current = current

    def extra(self) -> dict:
        """What is on disk now: the editor merges against it, a script retries with its version."""
        return {"current": self.current.as_dict() if self.current else None}


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int
    ignored: bool = False  # the workspace's .gitignore ignores it (set by workspaces.selectors.tree_entries)

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "type": "dir" if self.is_dir else "file", "size": self.size}


@dataclass(frozen=True)
class FileContent:
    path: str
    size: int
    version: str
    binary: bool
    text: str | None  # None for binary files: they are never decoded into garbage

    def as_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "version": self.version, "binary": self.binary, "content": self.text}


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def is_binary(data: bytes) -> bool:
    head = data[:BINARY_SNIFF]
    if b"\0" in head:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


OUTSIDE = "That path leads outside the workspace (through a symlink)."
GIT_REFUSED = "The .git directory is managed by MGX and cannot be touched directly."
MAX_LINKS = 40  # the kernel's own limit on links followed in one lookup
MAX_DEPTH = 200  # folders deeper than this are not zipped, listed recursively or deleted
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted by the app must not hang the worker that opens it.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class _Spot:
    """Where a walk ended: open descriptors of the folders from the root down (`fds[-1]` holds
    the entry), their names inside the workspace, and the entry's name in `fds[-1]` (None: the
    path is that folder itself). `missing`: the components not found, when the walk stopped at
    a folder that does not exist (and was not asked to create it)."""

    fds: list[int]
    names: list[str] = field(default_factory=list)
    name: str | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def dir_fd(self) -> int:
        return self.fds[-1]

    def rel(self) -> str:
        """The entry's path inside the workspace, with links already followed."""
        return "/".join(self.names + (self.missing or ([self.name] if self.name else [])))

    def lstat(self) -> os.stat_result | None:
        """The entry itself (a link is not followed); None when it does not exist."""
        if self.missing:
            return None
        if self.name is None:
            return os.fstat(self.dir_fd)
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    def __enter__(self) -> "_Spot":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _os_error(exc: OSError, rel: str) -> WorkspaceError:
    """What a user is told when the disk refused (often: the app changed the entry meanwhile)."""
    code = exc.errno
    if code == errno.ENOENT:
        return WorkspaceNotFound(f"No '{rel}' in the workspace.")
    if code == errno.ENOTDIR:
        return WorkspacePathError(f"'{rel}' is a file, not a folder.")
    if code == errno.EISDIR:
        return WorkspacePathError(f"'{rel}' is a folder.")
    if code in (errno.EEXIST, errno.ENOTEMPTY):
        return WorkspaceExists(f"'{rel}' already exists.")
    if code == errno.ELOOP:
        return WorkspacePathError(f"'{rel}' was changed into a symlink while MGX was using it; nothing was done, try again.")
    if code == errno.ENAMETOOLONG:
        return WorkspacePathError("The path is too long.")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return WorkspaceFull("The workspace is full: its disk quota is used up. Nothing was written; delete files "
                             "(node_modules, build output, logs) to make room.")
    return WorkspaceError(f"'{rel}' could not be used: {exc.strerror or exc}.")


class Workspace:
    def __init__(self, root: Path | str, *, max_file_bytes: int, resolved: bool = False):
        # `resolved`: the caller's root is canonical already (services.workspace_at); resolving
        # walks every component of it again, on every request.
        self.root = Path(root) if resolved else Path(root).resolve()
        self.max_file_bytes = max_file_bytes

    # ------------------------------------------------------------------ paths

    def clean(self, rel: str) -> str:
        """The canonical relative form of `rel` ('' is the root), or WorkspacePathError."""
        if not isinstance(rel, str):
            raise WorkspacePathError("The path must be text.")
        if "\0" in rel:
            raise WorkspacePathError("The path contains a NUL byte.")
        if "\\" in rel:
            raise WorkspacePathError("Use forward slashes in paths.")
        if rel.startswith("/") or rel.startswith("~"):
            raise WorkspacePathError("Paths are relative to the workspace; absolute paths are not allowed.")
        parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise WorkspacePathError("'..' is not allowed in paths.")
        if parts and parts[0] in HIDDEN:
            raise WorkspacePathError(GIT_REFUSED)
        if any(len(p.encode()) > 255 for p in parts) or len(rel.encode()) > 4096:
            raise WorkspacePathError("The path is too long.")
        return "/".join(parts)

    def _open_root(self) -> int:
        # The root's own path is MGX's (var/workspaces/<slug>), out of the app's reach; only
        # what is below it is walked by descriptor.
        try:
            return os.open(self.root, _DIR)
        except OSError as exc:
            raise WorkspaceNotFound("The workspace is missing on disk.") from exc

    def _walk(self, clean: str, *, follow_last: bool, create: bool = False) -> _Spot:
        """Walk `clean` (already cleaned) from the root, one component at a time.

        Folders are opened with O_NOFOLLOW relative to the folder above; a symlink met on the
        way (and the last component too, with `follow_last`) is read and its target walked from
        the descriptors already held. `create` makes missing folders (handed to the app user).
        The caller closes the returned spot."""
        spot = _Spot([self._open_root()])
        pending = deque(p for p in clean.split("/") if p)
        links = retries = 0
        try:
            while pending:
                part = pending.popleft()
                if part == "..":
                    if len(spot.fds) == 1:
                        raise WorkspacePathError(OUTSIDE)
                    os.close(spot.fds.pop())
                    spot.names.pop()
                    continue
                if not spot.names and part in HIDDEN:
                    raise WorkspacePathError(GIT_REFUSED)
                here = "/".join(spot.names + [part])
                if not pending:
                    if not follow_last:
                        spot.name = part
                        break
                    try:
                        st = os.stat(part, dir_fd=spot.dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        spot.name = part
                        break
                    except OSError as exc:
                        raise _os_error(exc, here) from exc
                    if not stat.S_ISLNK(st.st_mode):
                        spot.name = part
                        break
                    try:
                        target = os.readlink(part, dir_fd=spot.dir_fd)
                    except OSError as exc:
                        if exc.errno not in (errno.EINVAL, errno.ENOENT):
                            raise _os_error(exc, here) from exc
                        spot.name = part  # not a link any more: the entry itself it is
                        break
                else:
                    try:
                        fd = os.open(part, _DIR, dir_fd=spot.dir_fd)
                    except FileNotFoundError:
                        if not create:
                            spot.missing = [part, *pending]
                            break
                        retries += 1
                        if retries > MAX_LINKS:  # the app keeps removing what MGX makes
                            raise WorkspaceError(f"'{here}' keeps changing; nothing was done, try again.")
                        self._mkdir_at(spot.dir_fd, part, here, exist_ok=True)
                        pending.appendleft(part)
                        continue
                    except OSError as exc:
                        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                            raise _os_error(exc, here) from exc
                        target = self._link_target(spot.dir_fd, part, here)
                        if target is None:  # a link when opened, a folder again by now: look again
                            retries += 1
                            if retries > MAX_LINKS:
                                raise WorkspaceError(f"'{here}' keeps changing; nothing was done, try again.")
                            pending.appendleft(part)
                            continue
                    else:
                        spot.fds.append(fd)
                        spot.names.append(part)
                        continue
                links += 1
                if links > MAX_LINKS:
                    raise WorkspacePathError(f"'{clean}' goes through too many symlinks.")
                if target.startswith("/"):
                    raise WorkspacePathError(OUTSIDE)
                pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            return spot
        except BaseException:
            spot.close()
            raise

    @staticmethod
    def _link_target(dir_fd: int, name: str, here: str) -> str | None:
        """The target of the symlink `name`; None if it is a folder (again) by now. Anything
        else there is a file where a folder was wanted."""
        try:
            return os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise _os_error(exc, here) from exc
        try:
            if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                return None
        except OSError as exc:
            raise _os_error(exc, here) from exc
        raise WorkspacePathError(f"'{here}' is a file, not a folder.")

    @staticmethod
    def _mkdir_at(dir_fd: int, name: str, here: str, *, exist_ok: bool) -> None:
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            if exist_ok:
                return  # someone made it meanwhile; the caller opens it with O_NOFOLLOW
            raise WorkspaceExists(f"'{here}' already exists.")
        except OSError as exc:
            raise _os_error(exc, here) from exc
        try:
            fd = os.open(name, _DIR, dir_fd=dir_fd)
        except OSError as exc:
            raise _os_error(exc, here) from exc
        try:
            own_fd(fd)
        finally:
            os.close(fd)

    def resolve(self, rel: str) -> Path:
        """Where `rel` is inside the workspace, symlinks (which must stay inside) followed. For
        naming and checks only: opening the returned path would race with the app's code, so
        every operation here works on descriptors instead."""
        clean = self.clean(rel)
        with self._walk(clean, follow_last=True) as spot:
            if ".." in spot.missing:
                raise WorkspaceNotFound(f"No '{clean}' in the workspace.")
            where = spot.rel()
        return self.root / where if where else self.root

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def exists(self, rel: str) -> bool:
        """Whether `rel` names a file or folder (links followed, inside only)."""
        with self._walk(self.clean(rel), follow_last=True) as spot:
            return spot.lstat() is not None

    def _is_dir(self, rel: str) -> bool:
        with self._walk(rel, follow_last=True) as spot:
            st = spot.lstat()
            return st is not None and stat.S_ISDIR(st.st_mode)

    # ------------------------------------------------------------------ reads

    def _open_regular(self, clean: str) -> tuple[int | None, os.stat_result | None, str]:
        """An open descriptor of the regular file `clean` names, with its stat, or
        (None, None, why) with why one of 'missing', 'folder', 'special'."""
        with self._walk(clean, follow_last=True) as spot:
            if spot.missing:
                return None, None, "missing"
            if spot.name is None:
                return None, None, "folder"
            try:
                fd = os.open(spot.name, _FILE, dir_fd=spot.dir_fd)
            except FileNotFoundError:
                return None, None, "missing"
            except OSError as exc:
                raise _os_error(exc, clean) from exc
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            os.set_blocking(fd, True)
            return fd, st, ""
        os.close(fd)
        return None, None, "folder" if stat.S_ISDIR(st.st_mode) else "special"

    def _read_fd(self, fd: int, clean: str, limit: int | None) -> bytes:
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if limit is not None and total > limit:
                raise WorkspaceTooLarge(
                    f"'{clean}' is over {limit:,} bytes; files over {limit:,} bytes are not opened in the editor (download it instead)."
                )
            chunks.append(chunk)

    def list_dir(self, rel: str = "") -> list[Entry]:
        clean = self.clean(rel)
        with self._walk(clean, follow_last=True) as spot:
            if spot.missing:
                raise WorkspaceNotFound(f"No folder '{clean or '/'}' in the workspace.")
            where = spot.rel()
            try:
                fd = os.dup(spot.dir_fd) if spot.name is None else os.open(spot.name, _DIR, dir_fd=spot.dir_fd)
            except FileNotFoundError:
                raise WorkspaceNotFound(f"No folder '{clean or '/'}' in the workspace.") from None
            except NotADirectoryError:
                raise WorkspacePathError(f"'{clean}' is a file, not a folder.") from None
            except OSError as exc:
                raise _os_error(exc, clean) from exc
        entries = []
        try:
            with os.scandir(fd) as children:
                for child in children:
                    if child.name in HIDDEN and not where:
                        continue
                    path = f"{where}/{child.name}" if where else child.name
                    try:
                        st = child.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    is_dir = stat.S_ISDIR(st.st_mode)
                    if stat.S_ISLNK(st.st_mode):
                        try:
                            is_dir = self._is_dir(path)
                        except WorkspaceError:
                            continue  # a link that leads outside is not shown at all
                    entries.append(Entry(child.name, path, is_dir, 0 if is_dir else st.st_size))
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))

    def read(self, rel: str) -> FileContent:
        clean = self.clean(rel)
        fd, st, why = self._open_regular(clean)
        if fd is None:
            if why == "folder":
                raise WorkspacePathError(f"'{clean}' is a folder, not a file.")
            raise WorkspaceNotFound(f"No file '{clean}' in the workspace.")
        try:
            if st.st_size > self.max_file_bytes:
                raise WorkspaceTooLarge(
                    f"'{clean}' is {st.st_size:,} bytes; files over {self.max_file_bytes:,} bytes are not opened in the editor (download it instead)."
                )
            data = self._read_fd(fd, clean, self.max_file_bytes)
        finally:
            os.close(fd)
        binary = is_binary(data)
        return FileContent(clean, len(data), version_of(data), binary, None if binary else data.decode("utf-8"))

    def read_bytes(self, rel: str) -> bytes:
        """The raw content of a file up to the size limit (WorkspaceTooLarge beyond it)."""
        clean = self.clean(rel)
        fd, _st, _why = self._open_regular(clean)
        if fd is None:
            raise WorkspaceNotFound(f"No file '{clean}' in the workspace.")
        try:
            return self._read_fd(fd, clean, self.max_file_bytes)
        finally:
            os.close(fd)

    def current_version(self, rel: str) -> str | None:
        fd, _st, _why = self._open_regular(self.clean(rel))
        if fd is None:
            return None
        digest = hashlib.sha256()
        try:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        finally:
            os.close(fd)
        return digest.hexdigest()[:16]

    def open_for_download(self, rel: str):
        clean = self.clean(rel)
        fd, _st, _why = self._open_regular(clean)
        if fd is None:
            raise WorkspaceNotFound(f"No file '{clean}' in the workspace.")
        return os.fdopen(fd, "rb")

    def _tree(self, dir_fd: int, prefix: str, skip: frozenset, depth: int = 0) -> Iterator[tuple[str, int, os.DirEntry]]:
        """(path, folder descriptor, entry) of every non-folder below `dir_fd`, files of a folder
        before its subfolders, each subfolder opened with O_NOFOLLOW relative to its parent."""
        if depth > MAX_DEPTH:
            return
        try:
            with os.scandir(dir_fd) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        folders = []
        for child in children:
            if not prefix and child.name in HIDDEN:
                continue
            try:
                is_dir = child.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if child.name not in skip:
                    folders.append(child.name)
            else:
                yield prefix + child.name, dir_fd, child
        for name in folders:
            try:
                fd = os.open(name, _DIR, dir_fd=dir_fd)
            except OSError:
                continue  # replaced (by a link, say) since it was listed: not followed
            try:
                yield from self._tree(fd, f"{prefix}{name}/", skip, depth + 1)
            finally:
                os.close(fd)

    def _open_tree_file(self, rel: str, dir_fd: int, entry: os.DirEntry) -> tuple[int, os.stat_result] | None:
        """A descriptor of the regular file at `entry`; a link is followed only inside."""
        if entry.is_symlink():
            try:
                fd, st, _why = self._open_regular(rel)
            except WorkspaceError:
                return None
            return (fd, st) if fd is not None else None
        try:
            fd = os.open(entry.name, _FILE, dir_fd=dir_fd)
        except OSError:
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return fd, st

    def walk_files(self) -> Iterator[str]:
        root_fd = self._open_root()
        try:
            for rel, _dir_fd, entry in self._tree(root_fd, "", ZIP_SKIP_DIRS):
                if entry.is_symlink():
                    try:
                        if self._is_dir(rel):
                            continue
                    except WorkspaceError:
                        continue  # leads outside
                yield rel
        finally:
            os.close(root_fd)

    # ------------------------------------------------------------------ writes

    def write(self, rel: str, chunks: Iterable[bytes] | bytes, *, base_version: str | None = None, create_only: bool = False) -> FileContent:
        """Write a file atomically. `base_version`: the version the writer read ('' = the file
        must not exist yet); None skips the check. The caller holds the workspace lock."""
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("A file path is required.")
        with self._walk(clean, follow_last=True) as spot:
            st = spot.lstat()
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise WorkspacePathError(f"'{clean}' is a folder.")
        if create_only and st is not None:
            raise WorkspaceExists(f"'{clean}' already exists.")
        if base_version is not None:
            current = self.current_version(clean)
            if (current or "") != base_version:
                now = self.read(clean) if current else None
                raise WorkspaceConflict(
                    f"'{clean}' was changed by someone else since you opened it." if current
                    else f"'{clean}' was deleted since you opened it.",
                    current=now,
                )
        with self._walk(clean, follow_last=True, create=True) as spot:
            if spot.name is None:
                raise WorkspacePathError(f"'{clean}' is a folder.")
            written, digest = self._replace_at(spot.dir_fd, spot.name, chunks, clean)
        return FileContent(clean, written, digest, False, None)

    def _replace_at(self, dir_fd: int, name: str, chunks: Iterable[bytes] | bytes, clean: str) -> tuple[int, str]:
        """Write a temporary file in `dir_fd`, fsync it and rename it over `name` (the directory
        entry itself: if `name` is a link by now, the link is replaced, never its target)."""
        try:
            old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise WorkspacePathError(f"'{clean}' is a folder.")
        tmp = f".mgx-{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=dir_fd)
        except OSError as exc:
            raise _os_error(exc, clean) from exc
        written = 0
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in ([chunks] if isinstance(chunks, (bytes, bytearray)) else chunks):
                    written += len(chunk)
                    if written > self.max_file_bytes:
                        raise WorkspaceTooLarge(f"'{clean}' is larger than the {self.max_file_bytes:,}-byte limit for one file; nothing was written.")
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                if old is not None and stat.S_ISREG(old.st_mode):
                    # A rewrite keeps the file's owner and mode (chown first: it clears set-id bits).
                    if os.geteuid() == 0:
                        os.fchown(fd, old.st_uid, old.st_gid)
                    os.fchmod(fd, old.st_mode & 0o777)
                else:
                    own_fd(fd)
                    os.fchmod(fd, 0o644)
                os.fsync(fd)
            try:
                os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:  # `name` became a folder meanwhile, say
                raise _os_error(exc, clean) from exc
        except BaseException as exc:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):  # full: its quota
                raise _os_error(exc, clean) from exc
            raise
        os.fsync(dir_fd)
        return written, digest.hexdigest()[:16]

    def mkdir(self, rel: str) -> str:
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("A folder name is required.")
        with self._walk(clean, follow_last=True, create=True) as spot:
            if spot.name is None:
                raise WorkspaceExists(f"'{clean}' already exists.")
            self._mkdir_at(spot.dir_fd, spot.name, clean, exist_ok=False)
        return clean

    def move(self, src: str, dst: str) -> str:
        src_clean, dst_clean = self.clean(src), self.clean(dst)
        if not src_clean or not dst_clean:
            raise WorkspacePathError("Both the old and the new path are required.")
        # The entry itself (not what a link points to) is what moves.
        with self._walk(src_clean, follow_last=False) as source:
            st = source.lstat()
            if st is None:
                raise WorkspaceNotFound(f"No '{src_clean}' in the workspace.")
            with self._walk(dst_clean, follow_last=False) as target:
                if target.lstat() is not None:
                    raise WorkspaceExists(f"'{dst_clean}' already exists.")
                moving, landing = source.rel().split("/"), target.rel().split("/")
            if stat.S_ISDIR(st.st_mode) and landing[:len(moving)] == moving:
                raise WorkspacePathError("A folder cannot be moved into itself.")
            with self._walk(dst_clean, follow_last=False, create=True) as target:
                try:
                    os.rename(source.name, target.name, src_dir_fd=source.dir_fd, dst_dir_fd=target.dir_fd)
                except OSError as exc:
                    if exc.errno == errno.EINVAL:  # the kernel's own check, should the tree have changed
                        raise WorkspacePathError("A folder cannot be moved into itself.") from exc
                    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                        raise WorkspaceExists(f"'{dst_clean}' already exists.") from exc
                    if exc.errno == errno.ENOENT:
                        raise WorkspaceNotFound(f"No '{src_clean}' in the workspace.") from exc
                    raise _os_error(exc, src_clean) from exc
                os.fsync(target.dir_fd)
        return dst_clean

    def delete(self, rel: str) -> str:
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("The workspace root cannot be deleted.")
        with self._walk(clean, follow_last=False) as spot:
            st = spot.lstat()
            if st is None:
                raise WorkspaceNotFound(f"No '{clean}' in the workspace.")
            try:
                if stat.S_ISDIR(st.st_mode):
                    self._rmtree_at(spot.dir_fd, spot.name, 0)
                else:
                    os.unlink(spot.name, dir_fd=spot.dir_fd)  # a symlink is removed, never what it points to
            except OSError as exc:
                raise _os_error(exc, clean) from exc
        return clean

    def _rmtree_at(self, dir_fd: int, name: str, depth: int) -> None:
        """Remove the folder `name` of `dir_fd` and all it holds, by descriptor: a subfolder
        swapped for a link mid-way fails to open (O_NOFOLLOW) instead of being followed."""
        if depth > MAX_DEPTH:
            raise WorkspaceError("That folder is nested too deeply to delete from here.")
        fd = os.open(name, _DIR, dir_fd=dir_fd)
        try:
            with os.scandir(fd) as it:
                children = list(it)
            for child in children:
                if child.is_dir(follow_symlinks=False):
                    self._rmtree_at(fd, child.name, depth + 1)
                else:
                    os.unlink(child.name, dir_fd=fd)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=dir_fd)
