"""The workspace JSON API as a client (the editor, a script, the agent) uses it."""
import json

import pytest

from workspaces import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, app):
    client.force_login(app.owner)
    return client


@pytest.fixture
def app(app_factory):
    return app_factory(name="Api App")


def put(client, slug, path, body):
    return client.put(f"/api/workspaces/{slug}/files?path={path}", json.dumps(body), content_type="application/json")


def test_read_then_write_with_the_version_then_a_stale_write_gets_409_with_the_newer_content(owner_client, app):
    read = owner_client.get(f"/api/workspaces/{app.slug}/files?path=README.md").json()
    assert read["binary"] is False and read["content"].startswith("# Api App")

    saved = put(owner_client, app.slug, "README.md", {"content": "mine\n", "version": read["version"]})
    assert saved.status_code == 200 and saved.json()["version"] != read["version"]

    stale = put(owner_client, app.slug, "README.md", {"content": "from an old tab\n", "version": read["version"]})
    assert stale.status_code == 409
    assert stale.json()["current"]["content"] == "mine\n" and stale.json()["error"]["code"] == "conflict"
    assert selectors.file_read(app=app, path="README.md").text == "mine\n"


def test_version_empty_string_creates_only_when_absent(owner_client, app):
    assert put(owner_client, app.slug, "src/new.ts", {"content": "export {};\n", "version": ""}).status_code == 200
    again = put(owner_client, app.slug, "src/new.ts", {"content": "other\n", "version": ""})
    assert again.status_code == 409 and again.json()["current"]["content"] == "export {};\n"


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", ".git/config", "a/../../b", "%00"])
def test_traversal_paths_get_400_with_a_message(owner_client, app, path):
    from urllib.parse import quote

    query = path if path == "%00" else quote(path)  # %00 arrives as a NUL byte
    got = owner_client.get(f"/api/workspaces/{app.slug}/files?path={query}")
    assert got.status_code == 400 and got.json()["error"]["message"]
    written = put(owner_client, app.slug, query, {"content": "x"})
    assert written.status_code == 400


def test_oversize_content_gets_413_and_the_file_is_unchanged(owner_client, app, settings):
    settings.MGX_WORKSPACE_MAX_FILE_BYTES = 100
    too_big = put(owner_client, app.slug, "README.md", {"content": "x" * 101})
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]["message"]
    with selectors.file_open(app=app, path="README.md") as fh:
        assert fh.read().startswith(b"# Api App")


def test_entries_lists_folders_first_and_missing_paths_are_404(owner_client, app):
    listing = owner_client.get(f"/api/workspaces/{app.slug}/entries?path=").json()["entries"]
    assert listing[0] == {"name": "app", "path": "app", "type": "dir", "size": 0}
    assert owner_client.get(f"/api/workspaces/{app.slug}/entries?path=nope").status_code == 404


def test_binary_files_come_back_flagged_without_content(owner_client, app):
    services.file_write(app=app, path="img.bin", content=b"\x00\x01\x02", user=app.owner)
    got = owner_client.get(f"/api/workspaces/{app.slug}/files?path=img.bin").json()
    assert got == {"path": "img.bin", "size": 3, "version": got["version"], "binary": True, "content": None}


def test_bad_json_bodies_are_refused_and_change_nothing(owner_client, app):
    before = selectors.file_read(app=app, path="README.md").version
    bad = owner_client.put(f"/api/workspaces/{app.slug}/files?path=README.md", "nope", content_type="application/json")
    assert bad.status_code == 400
    wrong_type = put(owner_client, app.slug, "README.md", {"content": 5})
    assert wrong_type.status_code == 422 and "content" in wrong_type.json()["error"]["fields"]
    assert selectors.file_read(app=app, path="README.md").version == before


def test_delete_removes_the_file_and_records_it(owner_client, app):
    assert owner_client.delete(f"/api/workspaces/{app.slug}/files?path=README.md").status_code == 204
    assert owner_client.get(f"/api/workspaces/{app.slug}/files?path=README.md").status_code == 404
    assert selectors.history_list(app=app)[0].message == "Delete README.md"
