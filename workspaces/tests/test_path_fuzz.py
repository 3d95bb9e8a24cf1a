"""Fuzz: whatever path strings arrive (from a user, the API or the agent), and whatever
symlinks the app's own code has planted in its workspace, nothing outside the workspace is ever
read, listed, written, moved or deleted. Failures must be WorkspaceError (a clear 4xx), never
an unhandled OSError."""
import hashlib
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workspaces.fs import Workspace, WorkspaceError

SECRET = b"TOP SECRET: outside the workspace"

COMPONENTS = st.sampled_from(
    ["..", ".", "", "sub", "file.txt", "link_out", "link_abs", "link_file_out", "link_in", "deep_out", ".git",
     "config", "new", "x.ts", "~", "...", "..\\..", "%2e%2e", "sub\x00", "outside", "secret.txt", " ", "a" * 300]
)
PATHS = st.one_of(
    st.lists(COMPONENTS, min_size=0, max_size=6).map("/".join),
    st.lists(COMPONENTS, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)
OPS = st.sampled_from(["read", "list", "write", "mkdir", "move", "delete", "version"])


def _plant(base: Path) -> tuple[Path, Path]:
    outside = base / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "nested" / "secret.txt").write_bytes(SECRET)
    ws = base / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("[core]\n")
    (ws / "sub" / "file.txt").write_text("inside\n")
    os.symlink("../outside", ws / "link_out")
    os.symlink(str(outside), ws / "link_abs")
    os.symlink("../outside/secret.txt", ws / "link_file_out")
    os.symlink("sub", ws / "link_in")
    os.symlink("../../outside", ws / "sub" / "deep_out")
    os.symlink(".git", ws / "link_git")
    return ws, outside


def _snapshot(path: Path) -> dict:
    state = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            state[str(full.relative_to(path))] = (
                os.readlink(full) if full.is_symlink() else hashlib.sha256(full.read_bytes()).hexdigest() if full.is_file() else "dir"
            )
    return state


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=OPS, path=PATHS, other=PATHS)
@example(op="write", path="sub/file.txt/new", other="")
@example(op="move", path="sub", other="sub/file.txt/moved")
@example(op="move", path="link_out", other="sub/kept-link")
@example(op="write", path="link_out/secret.txt", other="")
@example(op="write", path="link_file_out", other="")
@example(op="delete", path="link_abs/secret.txt", other="")
@example(op="write", path="link_git/hooks/post-commit", other="")
def test_no_path_string_reaches_outside_the_workspace(op, path, other):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ws_root, outside = _plant(base)
        before_outside, before_git = _snapshot(outside), _snapshot(ws_root / ".git")
        ws = Workspace(ws_root, max_file_bytes=10_000)

        try:
            if op == "read":
                assert SECRET not in (ws.read(path).text or "").encode()
            elif op == "list":
                listed = ws.list_dir(path)
                # Links that lead outside are not even shown.
                assert not {e.name for e in listed} & {"link_out", "link_abs", "link_file_out", "deep_out", "link_git"}
            elif op == "write":
                ws.write(path, b"written by the fuzzer")
            elif op == "mkdir":
                ws.mkdir(path)
            elif op == "move":
                ws.move(path, other)
            elif op == "delete":
                ws.delete(path)
            else:
                ws.current_version(path)
        except WorkspaceError:
            pass

        assert _snapshot(outside) == before_outside
        assert _snapshot(ws_root / ".git") == before_git
        assert sorted(p.name for p in base.iterdir()) == ["outside", "ws"]
        for written in ws_root.rglob("*"):
            if written.is_file() and not written.is_symlink() and written.read_bytes() == b"written by the fuzzer":
                assert ws_root.resolve() in written.resolve().parents
