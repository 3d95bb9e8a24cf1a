"""The workspace as a .zip, streamed: a chunk at a time, with a cap on the bytes of files in it.

The download used to build the whole archive in memory (a workspace holding a 1.5 GB sparse
file took Daphne from 142 MB to 3.3 GB). Now `zip_check` adds up the sizes first and refuses a
workspace over the cap (MGX_WORKSPACE_ZIP_MAX_BYTES) before anything is read, naming its
largest files; `zip_stream` then yields the archive as it is made, reading each file in 1 MiB
pieces. The app's container may write while the archive is made: each file is read up to the
size it had when it was opened, and once the files taken add up to the cap, the rest are left
out and the archive ends with `MGX-ARCHIVE-INCOMPLETE.txt` saying so and naming them.

Files are reached exactly as the in-memory archive always was (descriptor walk, links followed
only inside, `.git` and dependency folders left out).
"""
from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator

from .fs import ZIP_SKIP_DIRS, Workspace, WorkspaceTooLarge

NOTE_NAME = "MGX-ARCHIVE-INCOMPLETE.txt"
PIECE = 1 << 20  # read from a file at a time
FLUSH = 1 << 20  # hand on what the archive has made once it holds this much
NAMED = 200  # files named in the note, at most


class _Sink(io.RawIOBase):
    """Where zipfile writes: collects bytes until they are taken. Not seekable, so zipfile
    writes each entry's sizes after its data (a data descriptor), as a stream needs."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0
        self.offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def take(self) -> bytes:
        data, self.parts, self.size = b"".join(self.parts), [], 0
        return data


def _files(ws: Workspace) -> Iterator[tuple[str, int, os.stat_result]]:
    """(path, open descriptor, its stat) of every file the archive holds; the caller closes the
    descriptor before asking for the next."""
    root_fd = ws._open_root()
    try:
        for rel, dir_fd, entry in ws._tree(root_fd, "", ZIP_SKIP_DIRS):
            opened = ws._open_tree_file(rel, dir_fd, entry)
            if opened is not None:  # links leading outside are not followed into the archive
                yield rel, *opened
    finally:
        os.close(root_fd)


def zip_check(ws: Workspace, *, cap: int) -> int:
    """The bytes of files the archive would hold; WorkspaceTooLarge (nothing read) over `cap`."""
    sizes: list[tuple[int, str]] = []
    for rel, fd, st in _files(ws):
        os.close(fd)
        sizes.append((st.st_size, rel))
    total = sum(size for size, _ in sizes)
    if total > cap:
        largest = ", ".join(f"{rel} ({size:,} bytes)" for size, rel in sorted(sizes, reverse=True)[:3])
        raise WorkspaceTooLarge(
            f"The workspace's files add up to {total:,} bytes; a .zip download holds at most {cap:,} bytes "
            f"(MGX_WORKSPACE_ZIP_MAX_BYTES). The largest: {largest}. Download big files on their own, or "
            f"remove what the app does not need.")
    return total


def _note(cap: int, left_out: list[str]) -> str:
    named = "\n".join(left_out[:NAMED]) + (f"\n… and {len(left_out) - NAMED} more" if len(left_out) > NAMED else "")
    return (f"This archive is incomplete. A .zip download holds at most {cap:,} bytes of files "
            f"(MGX_WORKSPACE_ZIP_MAX_BYTES), and the workspace grew past that while the archive was being "
            f"made. These files were left out:\n\n{named}\n")


def zip_stream(ws: Workspace, *, cap: int | None) -> Iterator[bytes]:
    """The archive, a piece at a time; at most `cap` bytes of files (None: no cap)."""
    sink = _Sink()
    taken = 0
    left_out: list[str] = []
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, fd, st in _files(ws):
            try:
                if cap is not None and (left_out or taken + st.st_size > cap):
                    left_out.append(rel)
                    continue
                taken += st.st_size
                # The app sets its files' times; zip can only hold 1980–2107.
                stamp = min(max(time.localtime(st.st_mtime)[:6], (1980, 1, 1, 0, 0, 0)), (2107, 12, 31, 23, 59, 58))
                info = zipfile.ZipInfo(rel, date_time=stamp)
                info.external_attr = (st.st_mode & 0xFFFF) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size = st.st_size  # zipfile decides on ZIP64 by it
                with zf.open(info, "w") as entry:
                    remaining = st.st_size  # what it held when opened, even if it grows meanwhile
                    while remaining > 0 and (piece := os.read(fd, min(PIECE, remaining))):
                        remaining -= len(piece)
                        entry.write(piece)
                        if sink.size >= FLUSH:
                            yield sink.take()
            finally:
                os.close(fd)
            if sink.size >= FLUSH:
                yield sink.take()
        if left_out:
            zf.writestr(NOTE_NAME, _note(cap, left_out))
    yield sink.take()  # the rest, and the central directory closing the archive
