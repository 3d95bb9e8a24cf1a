"""Only the owner (and MGX admins) can see or touch an app: every URL of sessions and
workspaces, for the owner, another user and an anonymous visitor."""
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from workspaces.selectors import file_read, history_list

pytestmark = pytest.mark.django_db

# (method, url, data, is_api). {slug} and {sha} are filled in per app.
URLS = [
    ("get", "/sessions/{slug}/", None, False),
    ("get", "/sessions/{slug}/?tab=history", None, False),
    ("get", "/sessions/{slug}/?tab=users", None, False),
    ("get", "/sessions/{slug}/?tab=dev", None, False),
    ("get", "/sessions/{slug}/dev/panel", None, False),
    ("get", "/sessions/{slug}/tree/?path=app", None, False),
    ("get", "/sessions/{slug}/files/download?path=README.md", None, False),
    ("get", "/sessions/{slug}/files/zip", None, False),
    ("get", "/sessions/{slug}/history/{sha}/", None, False),
    ("post", "/sessions/{slug}/files/new", {"path": "new.txt", "kind": "file"}, False),
    ("post", "/sessions/{slug}/files/rename", {"path": "README.md", "to": "READ.md"}, False),
    ("post", "/sessions/{slug}/files/delete", {"path": "README.md"}, False),
    ("post", "/sessions/{slug}/files/upload", "upload", False),
    ("post", "/sessions/{slug}/history/{sha}/restore", {}, False),
    ("post", "/sessions/{slug}/delete", {"confirm": "not-the-slug"}, False),
    ("get", "/api/sessions/{slug}", None, True),
    ("get", "/api/workspaces/{slug}/entries?path=", None, True),
    ("get", "/api/workspaces/{slug}/files?path=README.md", None, True),
    ("put", "/api/workspaces/{slug}/files?path=README.md", {"content": "owned"}, True),
    ("delete", "/api/workspaces/{slug}/files?path=README.md", None, True),
]
IDS = [f"{m.upper()} {u.split('{slug}')[1] or '/'}" for m, u, _, _ in URLS]


def _call(client, method, url, data, is_api):
    if data == "upload":
        return client.post(url, {"file": SimpleUploadedFile("up.txt", b"uploaded")})
    if is_api and data is not None:
        return getattr(client, method)(url, json.dumps(data), content_type="application/json")
    return getattr(client, method)(url, data or {})


@pytest.fixture
def app(app_factory, user_factory):
    return app_factory(owner=user_factory(username="owner"), name="Private App")


def _fill(url, app):
    return url.format(slug=app.slug, sha=history_list(app=app)[0].sha)


@pytest.mark.parametrize("method, url, data, is_api", URLS, ids=IDS)
def test_owner_can_use_every_url(client, app, method, url, data, is_api):
    client.force_login(app.owner)
    response = _call(client, method, _fill(url, app), data, is_api)
    assert response.status_code in (200, 204, 302), response.content[:300]
    if response.status_code == 302:
        assert "/accounts/login" not in response["Location"]


@pytest.mark.parametrize("method, url, data, is_api", URLS, ids=IDS)
def test_another_user_gets_404_and_changes_nothing(client, app, user_factory, method, url, data, is_api):
    client.force_login(user_factory(username="mallory"))
    before = (file_read(app=app, path="README.md").version, len(history_list(app=app)))

    response = _call(client, method, _fill(url, app), data, is_api)

    assert response.status_code == 404
    if is_api:
        assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
    assert (file_read(app=app, path="README.md").version, len(history_list(app=app))) == before


@pytest.mark.parametrize("method, url, data, is_api", URLS, ids=IDS)
def test_anonymous_is_sent_to_log_in_or_gets_401(client, app, method, url, data, is_api):
    before = len(history_list(app=app))
    response = _call(client, method, _fill(url, app), data, is_api)
    if is_api:
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert len(history_list(app=app)) == before


def test_an_mgx_admin_can_see_any_app(client, app, user_factory):
    client.force_login(user_factory(username="root", is_superuser=True, is_staff=True))
    page = client.get(f"/sessions/{app.slug}/")
    assert page.status_code == 200 and "owned by owner" in page.content.decode()


def test_the_dashboard_lists_only_my_own_apps(client, app, user_factory):
    client.force_login(user_factory(username="mallory"))
    assert "Private App" not in client.get("/").content.decode()
    assert client.get("/api/sessions").json() == {"sessions": []}
