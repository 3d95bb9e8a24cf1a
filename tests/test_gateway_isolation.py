"""Apps on their own origin: the gateway never hands MGX's credentials to an app, dev previews
stay private, and a page an app serves cannot act on MGX with the visitor's session."""
import json

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from deployments.gateway import gateway, route_for


pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery"


@pytest.fixture
def admin(user_factory):
    return user_factory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def routed(app_factory, admin, upstream):
    app = app_factory(owner=admin, name="Leaky App")
    for stage in ("dev", "prod"):
        gateway().set_route(route_for(slug=app.slug, stage=stage, upstream=f"127.0.0.1:{upstream.port}"))
    yield app
    for stage in ("dev", "prod"):
        gateway().delete_route(f"{app.slug}-{stage}")


def mgx_bearer(live, username) -> str:
    got = requests.post(f"{live.url}/oauth2/token/", timeout=10, data={
        "grant_type": "password", "client_id": "mgx", "username": username, "password": PASSWORD})
    assert got.status_code == 200, got.text
    return got.json()["access_token"]


def test_the_app_never_sees_mgx_cookies_or_bearer_and_what_it_saw_does_not_open_admin(live, routed, upstream):
    browser = live.login("root", PASSWORD)
    assert browser.get(f"{live.url}/admin/", allow_redirects=False, timeout=10).status_code == 200
    browser.cookies.set("app_session", "the-apps-own", domain="127.0.0.1")
    token = mgx_bearer(live, "root")

    captured = []
    for stage in ("prod", "dev"):
        got = browser.get(f"{live.apps_url}/apps/{routed.slug}/{stage}/echo", timeout=10, headers={
            "Authorization": f"Bearer {token}", "X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/evil"})
        assert got.status_code == 200, (stage, got.status_code, got.text[:200])
        seen = upstream.seen[-1]["headers"]
        cookie = seen.get("Cookie", "")
        assert "sessionid" not in cookie and "csrftoken" not in cookie, (stage, cookie)
        assert "app_session=the-apps-own" in cookie  # the app's own cookie is its business
        assert token not in seen.get("Authorization", ""), stage
        assert seen.get("X-Forwarded-Host") == live.apps_url.split("://")[1]
        assert "X-Forwarded-Prefix" not in seen
        captured.append(seen)

    for seen in captured:
        replay = {k: v for k, v in seen.items() if k.lower() in ("cookie", "authorization")}
        admin_page = requests.get(f"{live.url}/admin/", headers=replay, allow_redirects=False, timeout=10)
        assert admin_page.status_code == 302 and "/login/" in admin_page.headers["Location"]


def test_an_app_bearer_that_is_not_mgx_s_reaches_the_app(live, routed, upstream):
    requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/", headers={"Authorization": "Bearer app-own-token"}, timeout=10)
    assert upstream.seen[-1]["headers"]["Authorization"] == "Bearer app-own-token"


def test_an_app_cannot_set_cookies_under_mgx_s_names(live, routed):
    got = requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/toss", timeout=10)
    assert got.text == "tossed"
    assert [c.split("=", 1)[0] for c in got.raw.headers.getlist("Set-Cookie")] == ["app_pref"]


def test_apps_on_mgx_origin_are_sent_to_the_apps_origin(live, routed):
    moved = requests.get(f"{live.url}/apps/{routed.slug}/prod/x?y=1", allow_redirects=False, timeout=10)
    assert moved.status_code == 308
    assert moved.headers["Location"] == f"{live.apps_url}/apps/{routed.slug}/prod/x?y=1"
    assert live.apps_url != live.url
    with pytest.raises(InvalidStatus):
        connect(f"{live.ws_url}/apps/{routed.slug}/prod/hmr", open_timeout=10)


def test_the_dev_preview_is_the_owners_and_closes_at_logout(live, routed, user_factory):
    preview = f"{live.apps_url}/apps/{routed.slug}/dev/"
    anonymous = requests.get(preview, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]

    user_factory(username="stranger")
    stranger = live.login("stranger", PASSWORD)
    assert stranger.get(preview, allow_redirects=False, timeout=10).status_code == 404

    owner = live.login("root", PASSWORD)
    assert owner.get(preview, allow_redirects=False, timeout=10).status_code == 200
    sid = owner.cookies["sessionid"]
    out = owner.post(f"{live.url}/accounts/logout/", allow_redirects=False, timeout=10,
                     data={"csrfmiddlewaretoken": owner.cookies["csrftoken"]}, headers={"Referer": f"{live.url}/"})
    assert out.status_code == 302
    # The old cookie, replayed (as a page that copied it would): refused at once, no TTL.
    stale = requests.get(preview, allow_redirects=False, timeout=10, headers={"Cookie": f"sessionid={sid}"})
    again = owner.get(preview, allow_redirects=False, timeout=10)
    assert stale.status_code == 302 and again.status_code == 302


def test_a_revoked_login_closes_the_preview_at_once(live, routed):
    from oauth2_provider.models import get_access_token_model

    owner = live.login("root", PASSWORD)
    preview = f"{live.apps_url}/apps/{routed.slug}/dev/"
    assert owner.get(preview, timeout=10).status_code == 200
    for token in get_access_token_model().objects.filter(user=routed.owner):
        token.revoke()  # as a logout elsewhere or an admin does
    again = owner.get(preview, allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/accounts/login/" in again.headers["Location"]


def test_a_cross_origin_state_change_with_the_session_is_refused_and_a_bearer_works(live, routed):
    from workspaces import selectors as ws

    browser = live.login("root", PASSWORD)
    url = f"{live.url}/api/workspaces/{routed.slug}/files?path=README.md"
    version = browser.get(url, timeout=10).json()["version"]
    body = json.dumps({"content": "pwned\n", "version": version})
    for headers in (
        {"Origin": live.apps_url},
        {"Origin": live.apps_url, "X-CSRFToken": browser.cookies["csrftoken"]},
        {"X-CSRFToken": "wrong" * 8},
    ):
        refused = browser.put(url, data=body, timeout=10, headers={"Content-Type": "application/json", **headers})
        assert refused.status_code == 403, headers
    assert ws.file_read(app=routed, path="README.md").text != "pwned\n"

    token = mgx_bearer(live, "root")
    saved = requests.put(url, data=json.dumps({"content": "by api\n", "version": version}), timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Origin": live.apps_url})
    assert saved.status_code == 200
    assert ws.file_read(app=routed, path="README.md").text == "by api\n"


def test_mgx_websockets_refuse_the_apps_origin(live, routed):
    browser = live.login("root", PASSWORD)
    with pytest.raises(InvalidStatus):
        connect(f"{live.ws_url}/ws/apps/{routed.slug}/agent/", open_timeout=10,
                additional_headers={"Cookie": f"sessionid={browser.cookies['sessionid']}", "Origin": live.apps_url})


def test_csp_on_mgx_pages_frame_ancestors_on_the_preview_and_an_httponly_csrf_cookie(live, routed):
    login_page = requests.get(f"{live.url}/accounts/login/", timeout=10)
    csp = login_page.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    assert live.apps_url in csp.split("frame-src", 1)[1].split(";")[0]
    assert any(c.startswith("csrftoken=") and "HttpOnly" in c for c in login_page.raw.headers.getlist("Set-Cookie"))

    owner = live.login("root", PASSWORD)
    dev = owner.get(f"{live.apps_url}/apps/{routed.slug}/dev/framed", timeout=10)
    assert dev.status_code == 200 and "X-Frame-Options" not in dev.headers
    assert dev.headers["Content-Security-Policy"].count("frame-ancestors") == 1
    assert f"frame-ancestors {live.url}" in dev.headers["Content-Security-Policy"]
    assert "default-src 'self'" in dev.headers["Content-Security-Policy"]  # the app's own policy stays
    prod = requests.get(f"{live.apps_url}/apps/{routed.slug}/prod/framed", timeout=10)
    assert prod.headers["X-Frame-Options"] == "DENY"  # prod pages frame as the app says


def test_logging_in_from_the_preview_comes_back_to_it_on_the_apps_origin(live, routed):
    preview = f"{live.apps_url}/apps/{routed.slug}/dev/page?x=1"
    login_url = requests.get(preview, allow_redirects=False, timeout=10).headers["Location"]
    assert login_url.startswith(f"{live.url}/accounts/login/?next=")
    http = requests.Session()
    http.get(login_url, timeout=10)
    done = http.post(login_url, timeout=10, allow_redirects=False, headers={"Referer": login_url}, data={
        "username": "root", "password": PASSWORD, "csrfmiddlewaretoken": http.cookies["csrftoken"]})
    assert done.status_code == 302 and done.headers["Location"] == preview
    assert http.get(preview, timeout=10).json()["path"] == f"/apps/{routed.slug}/dev/page?x=1"
