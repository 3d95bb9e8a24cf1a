"""A workspace directory on disk, with every path checked in one place.

All reads and writes of an app's code go through `Workspace`: the only way to turn a path
string from a user, the API or the agent into a filesystem path is `Workspace.resolve`, which
refuses absolute paths, `..`, NUL bytes, the `.git` directory and symlinks that lead outside
the workspace. Writes are atomic (temporary file in the same directory, fsync, rename), so a
crash mid-write leaves the old file whole.

Versions are content hashes: a read returns one, and a write may name the version it was based
on; if the file changed since, the write is refused with `WorkspaceConflict`.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

BINARY_SNIFF = 8192
# Never shown in listings nor reachable by path: git's internals (writing hooks there would run
# code on the MGX host) and our own lock file.
HIDDEN = frozenset({".git"})
# Big generated trees are listed but not zipped or searched.
ZIP_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".next", "dist", ".cache"})


class WorkspaceError(Exception):
    """Base of the errors a user can cause; the message is safe to show."""

    status = 400


class WorkspacePathError(WorkspaceError):
    status = 400


class WorkspaceNotFound(WorkspaceError):
    status = 404


class WorkspaceExists(WorkspaceError):
    status = 409


class WorkspaceTooLarge(WorkspaceError):
    status = 413


class WorkspaceConflict(WorkspaceError):
    """The file changed since the version the writer had read."""

    status = 409

    def __init__(self, message: str, *, current: "FileContent | None"):
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int

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


class Workspace:
    def __init__(self, root: Path | str, *, max_file_bytes: int):
        self.root = Path(root).resolve()
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
            raise WorkspacePathError("The .git directory is managed by MGX and cannot be touched directly.")
        if any(len(p.encode()) > 255 for p in parts) or len(rel.encode()) > 4096:
            raise WorkspacePathError("The path is too long.")
        return "/".join(parts)

    def resolve(self, rel: str) -> Path:
        """The real path of `rel` inside the workspace. Symlinks are followed and must stay inside."""
        clean = self.clean(rel)
        candidate = self.root / clean if clean else self.root
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise WorkspacePathError("That path leads outside the workspace (through a symlink).")
        if real != self.root and real.relative_to(self.root).parts[:1] and real.relative_to(self.root).parts[0] in HIDDEN:
            raise WorkspacePathError("The .git directory is managed by MGX and cannot be touched directly.")
        return real

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # ------------------------------------------------------------------ reads

    def list_dir(self, rel: str = "") -> list[Entry]:
        path = self.resolve(rel)
        if not path.exists():
            raise WorkspaceNotFound(f"No folder '{self.clean(rel) or '/'}' in the workspace.")
        if not path.is_dir():
            raise WorkspacePathError(f"'{self.clean(rel)}' is a file, not a folder.")
        entries = []
        for child in path.iterdir():
            if child.name in HIDDEN and path == self.root:
                continue
            try:
                st = child.lstat()
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = self.resolve(self.rel(path / child.name))
                    is_dir = target.is_dir()
                except WorkspaceError:
                    continue  # a link that leads outside is not shown at all
            entries.append(Entry(child.name, self.rel(path / child.name), is_dir, 0 if is_dir else st.st_size))
        return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))

    def read(self, rel: str) -> FileContent:
        path = self.resolve(rel)
        if not path.is_file():
            if path.is_dir():
                raise WorkspacePathError(f"'{self.clean(rel)}' is a folder, not a file.")
            raise WorkspaceNotFound(f"No file '{self.clean(rel)}' in the workspace.")
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise WorkspaceTooLarge(
                f"'{self.clean(rel)}' is {size:,} bytes; files over {self.max_file_bytes:,} bytes are not opened in the editor (download it instead)."
            )
        data = path.read_bytes()
        binary = is_binary(data)
        return FileContent(self.clean(rel), len(data), version_of(data), binary, None if binary else data.decode("utf-8"))

    def current_version(self, rel: str) -> str | None:
        path = self.resolve(rel)
        if not path.is_file():
            return None
        return version_of(path.read_bytes())

    def open_for_download(self, rel: str):
        path = self.resolve(rel)
        if not path.is_file():
            raise WorkspaceNotFound(f"No file '{self.clean(rel)}' in the workspace.")
        return path.open("rb")

    def zip_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames[:] = sorted(d for d in dirnames if d not in ZIP_SKIP_DIRS)
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    try:
                        real = self.resolve(self.rel(full))
                    except WorkspaceError:
                        continue  # links leading outside are not followed into the archive
                    if real.is_file():
                        zf.write(real, self.rel(full))
        return buf.getvalue()

    # ------------------------------------------------------------------ writes

    def write(self, rel: str, chunks: Iterable[bytes] | bytes, *, base_version: str | None = None, create_only: bool = False) -> FileContent:
        """Write a file atomically. `base_version`: the version the writer read ('' = the file
        must not exist yet); None skips the check. The caller holds the workspace lock."""
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("A file path is required.")
        path = self.resolve(clean)
        if path.is_dir():
            raise WorkspacePathError(f"'{clean}' is a folder.")
        if create_only and path.exists():
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
        parent = path.parent
        if not parent.exists():
            self._mkdirs(parent)
        if not parent.is_dir():
            raise WorkspacePathError(f"'{self.rel(parent)}' is a file, not a folder.")
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=".mgx-", suffix=".tmp", dir=parent)
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
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            # The final component must not have become a symlink since resolve(): replace the
            # directory entry itself, never a link's target.
            os.replace(tmp, parent / path.name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        data_version = digest.hexdigest()[:16]
        return FileContent(clean, written, data_version, False, None)

    def mkdir(self, rel: str) -> str:
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("A folder name is required.")
        path = self.resolve(clean)
        if path.exists():
            raise WorkspaceExists(f"'{clean}' already exists.")
        self._mkdirs(path)
        return clean

    def _mkdirs(self, path: Path) -> None:
        # Create level by level, re-checking each level: a symlink planted mid-way cannot
        # redirect the rest of the tree outside.
        current = self.root
        for part in path.relative_to(self.root).parts:
            current = current / part
            if not current.exists():
                current.mkdir()
            self.resolve(self.rel(current))
            if not current.is_dir():
                raise WorkspacePathError(f"'{self.rel(current)}' is a file, not a folder.")

    def move(self, src: str, dst: str) -> str:
        src_clean, dst_clean = self.clean(src), self.clean(dst)
        if not src_clean or not dst_clean:
            raise WorkspacePathError("Both the old and the new path are required.")
        # The entry itself (not what a link points to) is what moves.
        src_path = self.resolve(str(PurePosixPath(src_clean).parent)) / PurePosixPath(src_clean).name
        if not os.path.lexists(src_path):
            raise WorkspaceNotFound(f"No '{src_clean}' in the workspace.")
        dst_path = self.resolve(dst_clean)
        if os.path.lexists(dst_path):
            raise WorkspaceExists(f"'{dst_clean}' already exists.")
        if src_path.is_dir() and not src_path.is_symlink() and (dst_path == src_path or src_path in dst_path.parents):
            raise WorkspacePathError("A folder cannot be moved into itself.")
        if not dst_path.parent.exists():
            self._mkdirs(dst_path.parent)
        if not dst_path.parent.is_dir():
            raise WorkspacePathError(f"'{self.rel(dst_path.parent)}' is a file, not a folder.")
        os.rename(src_path, dst_path)
        return dst_clean

    def delete(self, rel: str) -> str:
        clean = self.clean(rel)
        if not clean:
            raise WorkspacePathError("The workspace root cannot be deleted.")
        path = self.resolve(str(PurePosixPath(clean).parent)) / PurePosixPath(clean).name
        if not os.path.lexists(path):
            raise WorkspaceNotFound(f"No '{clean}' in the workspace.")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()  # a symlink is removed, never what it points to
        return clean

    def walk_files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in ZIP_SKIP_DIRS]
            for name in filenames:
                yield self.rel(Path(dirpath) / name)
