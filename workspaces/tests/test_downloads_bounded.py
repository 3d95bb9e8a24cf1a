"""Downloads from a workspace stream, on the live Daphne, with bounded memory: the .zip of a
workspace holding a 1.5 GB sparse file is refused before anything is read (over
MGX_WORKSPACE_ZIP_MAX_BYTES); a big workspace under the cap streams without Daphne holding the
archive; a single big file streams at the client's pace; and an archive whose workspace grows
past the cap while it is being made ends with a note that says so."""
from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from mgx_site.cli import procs
from workspaces import archive
from workspaces.fs import WorkspaceTooLarge
from workspaces.services import workspace_for

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def _sparse(app, name: str, size: int) -> Path:
    path = Path(settings.MGX_WORKSPACE_ROOT) / app.slug / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.fixture
def owner_http(live, app_factory, user_factory):
    owner = user_factory(username="zipper")
    app = app_factory(owner=owner, name="Zip Me")
    return app, live.login(owner.username, owner.raw_password)


@pytest.fixture
def daphne_pid(live):
    return procs.running_pid(live.layout, live.stack["daphne"])


def test_the_zip_of_a_workspace_over_the_cap_is_refused_before_anything_is_read(live, owner_http, daphne_pid):
    app, http = owner_http
    _sparse(app, "big.bin", 1536 * MIB)
    before = _rss_kib(daphne_pid)
    answer = http.get(f"{live.url}/sessions/{app.slug}/files/zip", timeout=300)
    assert answer.status_code == 413
    assert "attachment" not in answer.headers.get("Content-Disposition", "")
    # The page says why, and what to do about it.
    assert f"{settings.MGX_WORKSPACE_ZIP_MAX_BYTES:,}" in answer.text and "big.bin" in answer.text
    assert _rss_kib(daphne_pid) - before < 64 * 1024


def test_a_big_workspace_under_the_cap_streams_without_daphne_holding_it(live, owner_http, daphne_pid, tmp_path):
    app, http = owner_http
    size = settings.MGX_WORKSPACE_ZIP_MAX_BYTES - 8 * MIB
    (Path(settings.MGX_WORKSPACE_ROOT) / app.slug / "data").mkdir()
    _sparse(app, "data/zeros.bin", size)
    before = _rss_kib(daphne_pid)
    peak = before
    target = tmp_path / "ws.zip"
    with http.get(f"{live.url}/sessions/{app.slug}/files/zip", stream=True, timeout=300) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Disposition"] == f'attachment; filename="{app.slug}.zip"'
        with open(target, "wb") as out:
            for chunk in answer.iter_content(1 << 16):
                out.write(chunk)
                peak = max(peak, _rss_kib(daphne_pid))
    with zipfile.ZipFile(target) as zf:
        sizes = {i.filename: i.file_size for i in zf.infolist()}
        assert sizes["data/zeros.bin"] == size and "package.json" in sizes
        assert zf.read("package.json").startswith(b"{")
    assert peak - before < 64 * 1024, f"Daphne grew {peak - before} KiB while streaming"


def test_a_big_file_downloads_at_the_clients_pace(live, owner_http, daphne_pid):
    """A client that stops reading does not make Daphne hold the rest of the file."""
    app, http = owner_http
    size = 300 * MIB
    _sparse(app, "big.bin", size)
    before = _rss_kib(daphne_pid)
    with http.get(f"{live.url}/sessions/{app.slug}/files/download", params={"path": "big.bin"}, stream=True,
                  timeout=300) as answer:
        assert answer.status_code == 200 and int(answer.headers["Content-Length"]) == size
        peak = before
        # Not a timing assertion: a Daphne without back-pressure fills its memory with the file
        # while nobody reads; with it, memory stays put however long this watches.
        until = time.monotonic() + 5
        while time.monotonic() < until:
            peak = max(peak, _rss_kib(daphne_pid))
            time.sleep(0.1)
        got = sum(len(chunk) for chunk in answer.iter_content(1 << 20))
    assert got == size
    assert peak - before < 64 * 1024, f"Daphne grew {peak - before} KiB while the client read nothing"


def test_an_archive_that_passes_the_cap_while_it_is_made_ends_with_a_note(app_factory):
    app = app_factory(name="Growing")
    ws = workspace_for(app)
    root = Path(settings.MGX_WORKSPACE_ROOT) / app.slug
    (root / "a-noise.bin").write_bytes(os.urandom(2 * archive.FLUSH))  # the archive hands on a piece after it
    (root / "zz-grows.txt").write_bytes(b"small for now\n")
    cap = archive.zip_check(ws, cap=1 << 40) + 1000
    stream = archive.zip_stream(ws, cap=cap)  # the workspace fits when the download starts ...
    first = next(stream)
    with open(root / "zz-grows.txt", "ab") as fh:  # ... then the app's container writes
        fh.truncate(10 * MIB)
    data = first + b"".join(stream)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert "a-noise.bin" in names and "zz-grows.txt" not in names
        assert zf.read("a-noise.bin") == (root / "a-noise.bin").read_bytes()
        note = zf.read(archive.NOTE_NAME).decode()
    assert "zz-grows.txt" in note and f"{cap:,}" in note


def test_a_workspace_over_the_cap_is_refused_in_process_too(app_factory):
    app = app_factory(name="Too Big")
    os.truncate(_sparse(app, "huge.bin", 0), 64 * MIB)
    with pytest.raises(WorkspaceTooLarge) as refused:
        archive.zip_check(workspace_for(app), cap=32 * MIB)
    assert "huge.bin" in str(refused.value) and f"{32 * MIB:,}" in str(refused.value)
