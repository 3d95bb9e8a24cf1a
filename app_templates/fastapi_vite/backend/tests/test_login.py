"""Login with MGX as a user meets it: the redirect to MGX, the callback, the password form, the
session cookie, and every way a login is refused (each with a page that says why)."""
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import BASE, CLIENT_ID, make_settings, new_key

ALICE = {"sub": "42", "preferred_username": "alice", "email": "alice@example.com"}


def start_login(client, next_page=None):
    response = client.get(f"{BASE}/auth/login", params={"next": next_page} if next_page else None)
    assert response.status_code == 302
    return response, {k: v[0] for k, v in parse_qs(urlparse(response.headers["location"]).query).items()}


def grant_code(provider, query, claims=ALICE, code="code-1"):
    """What MGX does when the user approves: remember the PKCE challenge and issue a code."""
    provider.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"],
                            "claims": {**claims, "nonce": query["nonce"]}}
    return code


def test_login_redirects_to_mgx_with_pkce_state_and_nonce(provider, client_for):
    client = client_for(make_settings(provider))
    response, query = start_login(client)
    assert response.headers["location"].startswith("http://mgx.example/o/authorize/?")
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"http://apps.example{BASE}/auth/callback"
    assert query["scope"] == "openid profile email" and query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and len(query["code_challenge"]) == 43
    cookie = response.headers["set-cookie"]
    assert "mgx_app_login=" in cookie and "HttpOnly" in cookie and f"Path={BASE}" in cookie
    assert query["state"] not in cookie  # signed, not readable as plain state


def test_callback_exchanges_the_code_and_the_user_is_logged_in(provider, client_for):
    client = client_for(make_settings(provider))
    _, query = start_login(client, next_page=f"{BASE}/account?tab=1")
    code = grant_code(provider, query)

    response = client.get(f"{BASE}/auth/callback", params={"code": code, "state": query["state"]})

    assert response.status_code == 302 and response.headers["location"] == f"{BASE}/account?tab=1"
    session = [c for c in response.headers.get_list("set-cookie") if c.startswith("mgx_app_session=")][0]
    assert "HttpOnly" in session and f"Path={BASE}" in session and "samesite=lax" in session.lower()
    token_call = provider.requests[-1]
    assert token_call["grant_type"] == "authorization_code" and token_call["code_verifier"]
    assert client.get(f"{BASE}/api/me").json() == {"sub": "42", "username": "alice", "email": "alice@example.com"}
    assert client.get(f"{BASE}/api/home").json()["user"]["username"] == "alice"


def test_a_forged_state_is_refused_and_no_code_is_exchanged(provider, client_for):
    client = client_for(make_settings(provider))
    _, query = start_login(client)
    code = grant_code(provider, query)

    response = client.get(f"{BASE}/auth/callback", params={"code": code, "state": "forged"})

    assert response.status_code == 400
    assert "This login link is not valid any more. Start again." in response.text
    assert provider.requests == [] and client.get(f"{BASE}/api/me").status_code == 401


def test_a_callback_without_the_login_cookie_is_refused(provider, client_for):
    client = client_for(make_settings(provider))
    _, query = start_login(client)
    client.cookies.clear()
    response = client.get(f"{BASE}/auth/callback", params={"code": grant_code(provider, query), "state": query["state"]})
    assert response.status_code == 400 and "not valid any more" in response.text


def test_a_replayed_code_is_refused_by_mgx_and_the_page_says_so(provider, client_for):
    client = client_for(make_settings(provider))
    _, query = start_login(client)
    code = grant_code(provider, query)
    provider.codes.pop(code)  # already used once

    response = client.get(f"{BASE}/auth/callback", params={"code": code, "state": query["state"]})

    assert response.status_code == 400 and "MGX refused the login: Invalid grant" in response.text
    assert "Traceback" not in response.text and client.get(f"{BASE}/api/me").status_code == 401


def test_an_id_token_signed_by_another_key_is_refused(provider, client_for):
    client = client_for(make_settings(provider))
    _, query = start_login(client)
    code = grant_code(provider, query)
    provider.signing_key = new_key()  # same kid, wrong key: only the signature can tell

    response = client.get(f"{BASE}/auth/callback", params={"code": code, "state": query["state"]})

    assert response.status_code == 400 and "signature is wrong" in response.text
    assert client.get(f"{BASE}/api/me").status_code == 401


@pytest.mark.parametrize("override, message", [
    ({"iss": "http://evil.example"}, "issued by someone else"),
    ({"aud": "another-app"}, "meant for another app"),
    ({"nonce": "other"}, "another login attempt"),
    ({"exp": 1000}, "expired"),
])
def test_id_tokens_with_wrong_claims_are_refused(provider, client_for, override, message):
    client = client_for(make_settings(provider))
    _, query = start_login(client)
    code = grant_code(provider, query)
    provider.claim_overrides = override

    response = client.get(f"{BASE}/auth/callback", params={"code": code, "state": query["state"]})

    assert response.status_code == 400 and message in response.text
    assert client.get(f"{BASE}/api/me").status_code == 401


def test_next_cannot_send_the_user_to_another_site(provider, client_for):
    client = client_for(make_settings(provider))
    for target in ["https://evil.example/", "//evil.example/x", "/apps/other/dev/", f"{BASE}/auth/logout"]:
        client.cookies.clear()
        _, query = start_login(client, next_page=target)
        response = client.get(f"{BASE}/auth/callback", params={"code": grant_code(provider, query), "state": query["state"]})
        assert response.headers["location"] == f"{BASE}/account", target


def test_password_form_logs_in_and_wrong_password_shows_mgx_message(provider, client_for):
    client = client_for(make_settings(provider))
    provider.passwords["alice"] = ("pw", ALICE)

    wrong = client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "nope"})
    assert wrong.status_code == 400 and "Wrong username or password." in wrong.text
    assert 'name="password"' in wrong.text and 'value="alice"' in wrong.text
    assert client.get(f"{BASE}/api/me").status_code == 401

    ok = client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"})
    assert ok.status_code == 302 and ok.headers["location"] == f"{BASE}/account"
    assert provider.requests[-1]["grant_type"] == "password" and provider.requests[-1]["scope"] == "openid profile email"
    assert client.get(f"{BASE}/api/me").json()["username"] == "alice"


def test_logout_clears_the_session(provider, client_for):
    client = client_for(make_settings(provider))
    provider.passwords["alice"] = ("pw", ALICE)
    client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"})

    response = client.post(f"{BASE}/auth/logout")

    assert response.status_code == 302 and response.headers["location"] == f"{BASE}/"
    assert client.get(f"{BASE}/api/me").status_code == 401


def test_a_tampered_session_cookie_counts_as_logged_out(provider, client_for):
    client = client_for(make_settings(provider))
    provider.passwords["alice"] = ("pw", ALICE)
    client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"})
    value = client.cookies.get("mgx_app_session")
    client.cookies.clear()
    client.cookies.set("mgx_app_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path=BASE)
    assert client.get(f"{BASE}/api/me").json() == {"error": "not logged in"}


def test_without_oauth_settings_the_app_runs_and_login_says_it_is_not_configured(client_for):
    client = client_for(make_settings(None))
    assert client.get(f"{BASE}/api/healthz").json() == {"status": "ok"}
    assert client.get(f"{BASE}/api/health").json() == {"status": "ok", "app": "demo"}
    response = client.get(f"{BASE}/auth/login")
    assert response.status_code == 503 and "Login with MGX is not configured for this app" in response.text
    assert client.get(f"{BASE}/api/me").status_code == 401


def test_an_unreachable_database_fails_the_login_with_a_clear_page(provider, client_for):
    client = client_for(make_settings(provider, mongodb_url="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"))
    provider.passwords["alice"] = ("pw", ALICE)
    response = client.post(f"{BASE}/auth/password", data={"username": "alice", "password": "pw"})
    assert response.status_code == 503 and "database is not reachable" in response.text
    assert client.get(f"{BASE}/api/me").status_code == 401
