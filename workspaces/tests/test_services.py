"""Every workspace operation through the service layer, on a real workspace with real git."""
import io
import zipfile

import pytest

from core.errors import http_status
from workspaces import selectors, services
from workspaces.fs import (
    WorkspaceConflict,
    WorkspaceExists,
    WorkspaceNotFound,
    WorkspacePathError,
    WorkspaceTooLarge,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(app_factory):
    return app_factory(name="Notes")


def messages(app):
    return [c.message for c in selectors.history_list(app=app)]


def test_a_new_workspace_holds_the_template_with_the_app_name_and_one_commit(app):
    names = [e.name for e in selectors.entries_list(app=app)]
    assert names[:1] == ["app"]  # folders first
    assert {"package.json", "next.config.mjs", "README.md"} <= set(names)
    assert ".git" not in names
    assert "<h1>Notes</h1>" in selectors.file_read(app=app, path="app/page.tsx").text
    assert '"name": "notes"' in selectors.file_read(app=app, path="package.json").text
    assert messages(app) == ["Create Notes from the Next.js template"]


def test_write_returns_a_new_version_and_commits_who_and_what(app, user_factory):
    before = selectors.file_read(app=app, path="README.md")
    written = services.file_write(app=app, path="README.md", content="# Notes\n", user=app.owner, base_version=before.version)

    after = selectors.file_read(app=app, path="README.md")
    assert after.text == "# Notes\n"
    assert after.version == written.version != before.version
    top = selectors.history_list(app=app)[0]
    assert (top.message, top.author) == ("Edit README.md", app.owner.username)


def test_a_write_based_on_a_stale_version_is_refused_and_keeps_the_newer_file(app):
    opened = selectors.file_read(app=app, path="README.md")
    services.file_write(app=app, path="README.md", content="agent's version\n", user=None, base_version=opened.version)

    with pytest.raises(WorkspaceConflict) as conflict:
        services.file_write(app=app, path="README.md", content="user's version\n", user=app.owner, base_version=opened.version)

    assert http_status(conflict.value) == 409
    assert conflict.value.current.text == "agent's version\n"  # what the editor shows side by side
    assert selectors.file_read(app=app, path="README.md").text == "agent's version\n"


def test_create_only_refuses_an_existing_file(app):
    with pytest.raises(WorkspaceExists):
        services.file_write(app=app, path="README.md", content="x", user=app.owner, create_only=True)


def test_new_file_in_new_folders_then_rename_move_and_delete(app):
    services.file_write(app=app, path="src/lib/util.ts", content="export const one = 1;\n", user=app.owner, base_version="")
    assert [e.path for e in selectors.entries_list(app=app, path="src/lib")] == ["src/lib/util.ts"]

    services.entry_move(app=app, src="src/lib/util.ts", dst="src/util.ts", user=app.owner)
    services.entry_move(app=app, src="src", dst="shared", user=app.owner)
    assert selectors.file_read(app=app, path="shared/util.ts").text == "export const one = 1;\n"
    with pytest.raises(WorkspaceNotFound):
        selectors.file_read(app=app, path="src/util.ts")

    services.entry_delete(app=app, path="shared", user=app.owner)
    assert "shared" not in [e.name for e in selectors.entries_list(app=app)]
    assert messages(app)[:4] == ["Delete shared", "Rename src to shared", "Rename src/lib/util.ts to src/util.ts", "Create src/lib/util.ts"]


def test_moving_onto_an_existing_entry_or_into_itself_is_refused(app):
    services.dir_create(app=app, path="docs", user=app.owner)
    with pytest.raises(WorkspaceExists):
        services.entry_move(app=app, src="docs", dst="README.md", user=app.owner)
    with pytest.raises(WorkspacePathError):
        services.entry_move(app=app, src="docs", dst="docs/inner", user=app.owner)
    assert selectors.file_read(app=app, path="README.md").text.startswith("# Notes")


def test_folders_are_kept_in_history_even_when_empty(app):
    services.dir_create(app=app, path="assets/img", user=app.owner)
    assert [e.path for e in selectors.entries_list(app=app, path="assets")] == ["assets/img"]
    assert messages(app)[0] == "Create folder assets/img"


def test_upload_streams_chunks_and_binary_files_are_marked_not_decoded(app):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    services.file_write(app=app, path="public/logo.png", content=iter([png[:100], png[100:]]), user=app.owner, verb="Upload")

    read = selectors.file_read(app=app, path="public/logo.png")
    assert read.binary is True and read.text is None and read.size == len(png)
    with selectors.file_open(app=app, path="public/logo.png") as fh:
        assert fh.read() == png
    assert messages(app)[0] == "Upload public/logo.png"


def test_oversize_files_are_refused_whole_and_leave_nothing(app, settings):
    settings.MGX_WORKSPACE_MAX_FILE_BYTES = 1000
    with pytest.raises(WorkspaceTooLarge) as too_big:
        services.file_write(app=app, path="big.txt", content=iter([b"a" * 600, b"b" * 600]), user=app.owner)
    assert "1,000-byte limit" in str(too_big.value)
    names = {e.name for e in selectors.entries_list(app=app)}
    assert "big.txt" not in names and not any(n.startswith(".mgx-") for n in names)


def test_a_crash_mid_write_leaves_the_old_file_whole(app):
    def chunks():
        yield b"half of the new conte"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        services.file_write(app=app, path="README.md", content=chunks(), user=app.owner)

    assert selectors.file_read(app=app, path="README.md").text.startswith("# Notes")
    assert not [e for e in selectors.entries_list(app=app) if e.name.startswith(".mgx-")]
    assert len(messages(app)) == 1  # nothing was committed


def test_the_git_directory_cannot_be_read_or_written(app):
    for path in [".git/config", ".git/hooks/post-commit", "./.git/HEAD"]:
        with pytest.raises(WorkspacePathError):
            selectors.file_read(app=app, path=path)
        with pytest.raises(WorkspacePathError):
            services.file_write(app=app, path=path, content="#!/bin/sh\ntouch /tmp/pwned\n", user=app.owner)


def test_zip_download_holds_the_code_without_git_or_dependencies(app):
    services.file_write(app=app, path="node_modules/dep/index.js", content="x", user=app.owner)
    archive = zipfile.ZipFile(io.BytesIO(selectors.workspace_zip(app=app)))
    names = archive.namelist()
    assert "app/page.tsx" in names and "package.json" in names
    assert not any(n.startswith((".git/", "node_modules/")) for n in names)
    assert b"<h1>Notes</h1>" in archive.read("app/page.tsx")


def test_history_shows_a_diff_and_restore_is_a_new_commit(app):
    first = selectors.history_list(app=app)[0]
    services.file_write(app=app, path="README.md", content="rewritten\n", user=app.owner)
    services.file_write(app=app, path="NEW.md", content="new\n", user=app.owner)
    edit = selectors.history_list(app=app)[1]

    commit, patch = selectors.version_show(app=app, sha=edit.sha)
    assert commit.message == "Edit README.md"
    assert "+rewritten" in patch and "-# Notes" in patch

    services.version_restore(app=app, sha=first.sha, user=app.owner)
    assert selectors.file_read(app=app, path="README.md").text.startswith("# Notes")
    with pytest.raises(WorkspaceNotFound):
        selectors.file_read(app=app, path="NEW.md")
    history = messages(app)
    assert history[0] == f"Restore to version {first.sha[:8]}"
    assert len(history) == 4  # nothing was rewritten away: the edits are still there


def test_bad_version_ids_are_refused_with_a_message(app):
    from workspaces.git import GitError

    for sha in ["HEAD", "--output=/tmp/x", "deadbeefdeadbeef", "zzzzzzz"]:
        with pytest.raises(GitError):
            selectors.version_show(app=app, sha=sha)
