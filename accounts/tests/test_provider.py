"""The OAuth2/OIDC provider over real HTTP (Daphne), driven by authlib as a client would."""
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from .conftest import CALLBACK, hidden_inputs

pytestmark = pytest.mark.django_db(transaction=True)


def _session(live, user):
    return live.login(user.username, user.raw_password)


# ---------------------------------------------------------------- discovery and JWKS


def test_discovery_announces_every_endpoint_on_the_public_url(live, provider):
    meta = provider.meta
    assert meta["issuer"] == live.url
    for key, path in {
        "authorization_endpoint": "/oauth2/authorize/",
        "token_endpoint": "/oauth2/token/",
        "userinfo_endpoint": "/oauth2/userinfo/",
        "jwks_uri": "/oauth2/.well-known/jwks.json",
        "revocation_endpoint": "/oauth2/revoke_token/",
        "introspection_endpoint": "/oauth2/introspect/",
        "end_session_endpoint": "/oauth2/logout/",
    }.items():
        assert meta[key] == live.url + path
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert meta["id_token_signing_alg_values_supported"][0] == "RS256"
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "password", "client_credentials"}
    # OIDC clients look for the document under the issuer itself, which is the site root.
    root = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    assert root["issuer"] == meta["issuer"] and root["jwks_uri"] == meta["jwks_uri"]
    keys = provider.jwks()["keys"]  # one key, or more after a rotation
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig" for k in keys)
    assert not any("d" in k or "p" in k for k in keys)  # public halves only


# ---------------------------------------------------------------- password grant, JWT, /api/me


def test_password_grant_gives_a_jwt_the_client_verifies_with_the_jwks(live, provider, user_factory):
    alice = user_factory(username="alice")
    client = OAuth2Session("mgx", token_endpoint_auth_method="none")

    token = client.fetch_token(provider.token_endpoint, username="alice", password=alice.raw_password)

    claims = provider.verify(token["access_token"], audience="mgx")
    assert claims["iss"] == live.url
    assert claims["sub"] == str(alice.pk)
    assert claims["preferred_username"] == "alice"
    assert claims["scope"] == "read write" == token["scope"]
    assert 3500 <= claims["exp"] - time.time() <= 3600
    assert token["token_type"] == "Bearer" and token["refresh_token"]

    me = provider.me(token["access_token"])
    assert me.status_code == 200
    assert me.json() | {"exp": 0} == {
        "sub": str(alice.pk), "username": "alice", "email": "", "is_superuser": False,
        "auth": "bearer", "client_id": "mgx", "scope": "read write", "exp": 0,
    }


def test_wrong_password_is_refused_and_api_me_needs_a_token(live, provider, user_factory):
    user_factory(username="alice")
    refused = provider.password_grant(Application.objects.get(client_id="mgx"), "alice", "guess")
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "The user name or password is not correct."}

    assert requests.get(f"{live.url}/api/me", timeout=10).status_code == 401
    forged = provider.me("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
    assert forged.status_code == 401 and forged.json()["error"]["message"] == "The token is not an MGX access token."


def test_expired_token_is_refused_by_api_me(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice")
    client = oauth_client("Script", grant=Application.GRANT_PASSWORD)
    token = provider.password_grant(client, "alice", alice.raw_password).json()["access_token"]
    assert provider.me(token).status_code == 200

    # Expired as the provider records it (no waiting on the clock: a busy machine made a 1 s
    # token expire before its first use).
    AccessToken.objects.filter(user=alice, application=client).update(expires=timezone.now() - timedelta(seconds=1))
    expired = provider.me(token)

    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "The token has expired."
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]


# ---------------------------------------------------------------- authorization code + PKCE


def _authorize(live, http, client_id, *, redirect_uri=CALLBACK, verifier=None, scope="openid profile read",
               nonce=None, method="S256"):
    """Start an authorization as authlib would build it, approve it on the consent page, and
    return the redirect the browser would follow."""
    kwargs = {}
    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=scope,
                            code_challenge_method=method if verifier else None)
    url, state = session.create_authorization_url(f"{live.url}/oauth2/authorize/", code_verifier=verifier,
                                                  nonce=nonce, **kwargs)
    consent = http.get(url, allow_redirects=False, timeout=10)
    if consent.status_code != 200 or "Authorize" not in consent.text:
        return consent, state
    fields = hidden_inputs(consent.text)
    fields["allow"] = "on"
    done = http.post(f"{live.url}/oauth2/authorize/", data=fields, allow_redirects=False, timeout=10,
                     headers={"Referer": url})
    return done, state


def test_code_flow_with_pkce_s256_issues_tokens_and_an_id_token(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice", email="alice@example.org")
    spa = oauth_client("Notes SPA")
    http = _session(live, alice)
    verifier, nonce = generate_token(48), generate_token(16)

    redirect, state = _authorize(live, http, spa.client_id, verifier=verifier, nonce=nonce)

    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state] and query["iss"] == [live.url]

    client = OAuth2Session(spa.client_id, redirect_uri=CALLBACK, token_endpoint_auth_method="none")
    token = client.fetch_token(provider.token_endpoint, authorization_response=location, code_verifier=verifier)

    access = provider.verify(token["access_token"], audience=spa.client_id)
    assert access["sub"] == str(alice.pk) and access["scope"] == "openid profile read"
    id_token = provider.verify(token["id_token"], audience=spa.client_id)
    assert id_token["nonce"] == nonce and id_token["preferred_username"] == "alice"
    userinfo = requests.get(provider.userinfo_endpoint, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert userinfo.json()["sub"] == str(alice.pk) and userinfo.json()["preferred_username"] == "alice"


def test_reused_authorization_code_is_refused(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice")
    spa = oauth_client("Notes SPA")
    verifier = generate_token(48)
    redirect, _ = _authorize(live, _session(live, alice), spa.client_id, verifier=verifier)
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "client_id": spa.client_id, "code_verifier": verifier}

    first = requests.post(provider.token_endpoint, data=exchange, timeout=10)
    again = requests.post(provider.token_endpoint, data=exchange, timeout=10)

    assert first.status_code == 200 and "access_token" in first.json()
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_pkce_is_required_and_the_verifier_must_match(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice")
    spa = oauth_client("Notes SPA")
    http = _session(live, alice)

    # A public client that sends no challenge is turned away before any code exists.
    no_challenge, _ = _authorize(live, http, spa.client_id, verifier=None)
    assert no_challenge.status_code == 302
    assert "error=invalid_request" in no_challenge.headers["Location"]
    assert "code=" not in no_challenge.headers["Location"]

    verifier = generate_token(48)
    for sent, why in ((None, "missing"), (generate_token(48), "wrong")):
        redirect, _ = _authorize(live, http, spa.client_id, verifier=verifier)
        code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "client_id": spa.client_id}
        if sent:
            data["code_verifier"] = sent
        refused = requests.post(provider.token_endpoint, data=data, timeout=10)
        assert refused.status_code == 400, why
        assert refused.json()["error"] in ("invalid_request", "invalid_grant"), why
    assert not AccessToken.objects.filter(application=spa).exists()


def test_plain_pkce_method_is_refused(live, user_factory, oauth_client):
    alice = user_factory(username="alice")
    spa = oauth_client("Notes SPA")
    verifier = generate_token(48)
    # authlib only builds S256 challenges; a client sending "plain" is written by hand here.
    url = f"{live.url}/oauth2/authorize/?" + urlencode({
        "response_type": "code", "client_id": spa.client_id, "redirect_uri": CALLBACK, "scope": "read",
        "state": "s1", "code_challenge": verifier, "code_challenge_method": "plain"})
    http = _session(live, alice)
    consent = http.get(url, timeout=10)
    fields = hidden_inputs(consent.text) | {"allow": "on"}
    redirect = http.post(f"{live.url}/oauth2/authorize/", data=fields, allow_redirects=False, timeout=10)

    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and "code" not in query
    assert "S256" in query["error_description"][0]


def test_unregistered_redirect_uri_is_refused_without_redirecting(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice")
    spa = oauth_client("Notes SPA")
    http = _session(live, alice)

    page, _ = _authorize(live, http, spa.client_id, verifier=generate_token(48), redirect_uri="http://evil.example/cb")

    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "This request cannot continue" in page.text and "redirect" in page.text.lower()

    # A code issued for the registered URI cannot be exchanged under another one.
    verifier = generate_token(48)
    redirect, _ = _authorize(live, http, spa.client_id, verifier=verifier)
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
    swapped = requests.post(provider.token_endpoint, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/other",
        "client_id": spa.client_id, "code_verifier": verifier})
    assert swapped.status_code == 400


# ---------------------------------------------------------------- refresh, revoke, introspect


def test_refresh_rotates_and_the_old_refresh_token_is_refused(live, provider, user_factory):
    alice = user_factory(username="alice")
    client = OAuth2Session("mgx", token_endpoint_auth_method="none")
    first = client.fetch_token(provider.token_endpoint, username="alice", password=alice.raw_password)

    second = client.refresh_token(provider.token_endpoint, refresh_token=first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert provider.me(second["access_token"]).status_code == 200
    assert provider.me(first["access_token"]).json()["error"]["message"] == "The token has been revoked."

    with pytest.raises(OAuthError) as replay:
        client.refresh_token(provider.token_endpoint, refresh_token=first["refresh_token"])
    assert replay.value.error == "invalid_grant"
    # Replaying a used refresh token means it leaked: the whole chain is revoked.
    with pytest.raises(OAuthError):
        client.refresh_token(provider.token_endpoint, refresh_token=second["refresh_token"])


def test_revoked_token_introspects_inactive_and_is_refused(live, provider, app_with_users):
    _app, shop, passwords = app_with_users("Shop", users=("bob",))
    client = OAuth2Session(shop.client_id, shop.client_secret, token_endpoint_auth_method="client_secret_basic")
    token = client.fetch_token(provider.token_endpoint, username="bob", password=passwords["bob"])

    active = client.introspect_token(provider.introspection_endpoint, token=token["access_token"]).json()
    assert active["active"] is True
    assert active["client_id"] == shop.client_id and active["username"] == "bob" and active["iss"] == live.url

    revoked = client.revoke_token(provider.revocation_endpoint, token=token["access_token"], token_type_hint="access_token")
    assert revoked.status_code == 200

    assert client.introspect_token(provider.introspection_endpoint, token=token["access_token"]).json() == {"active": False}
    with pytest.raises(OAuthError):  # its refresh token went with it
        client.refresh_token(provider.token_endpoint, refresh_token=token["refresh_token"])


def test_revoked_mgx_token_is_refused_by_the_api_even_though_its_signature_is_fine(live, provider, user_factory):
    alice = user_factory(username="alice")
    client = OAuth2Session("mgx", token_endpoint_auth_method="none")
    token = client.fetch_token(provider.token_endpoint, username="alice", password=alice.raw_password)
    client.revoke_token(provider.revocation_endpoint, token=token["access_token"])

    provider.verify(token["access_token"], audience="mgx")  # an app verifying locally cannot tell
    refused = provider.me(token["access_token"])
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "The token has been revoked."


def test_a_client_cannot_introspect_another_apps_tokens(live, provider, app_with_users):
    _a, shop, shop_users = app_with_users("Shop", users=("bob",))
    _b, blog, _ = app_with_users("Blog", users=("carol",))
    token = OAuth2Session(shop.client_id, shop.client_secret).fetch_token(
        provider.token_endpoint, username="bob", password=shop_users["bob"])["access_token"]

    nosy = OAuth2Session(blog.client_id, blog.client_secret)
    assert nosy.introspect_token(provider.introspection_endpoint, token=token).json() == {"active": False}


# ---------------------------------------------------------------- client credentials


def test_client_credentials_token_names_the_client_and_is_no_person(live, provider, app_with_users):
    _app, shop, _ = app_with_users("Shop", users=())
    client = OAuth2Session(shop.client_id, shop.client_secret)

    token = client.fetch_token(provider.token_endpoint, grant_type="client_credentials")

    claims = provider.verify(token["access_token"], audience=shop.client_id)
    assert claims["sub"] == shop.client_id and claims["app"] == "shop"
    assert "refresh_token" not in token


def test_rp_initiated_logout_ends_the_mgx_session_and_its_tokens(live, provider, user_factory, oauth_client):
    alice = user_factory(username="alice")
    spa = oauth_client("Notes SPA", redirect_uris=f"{CALLBACK}")
    spa.post_logout_redirect_uris = "http://127.0.0.1:9/bye"
    spa.save()
    http = _session(live, alice)
    verifier = generate_token(48)
    redirect, _ = _authorize(live, http, spa.client_id, verifier=verifier)
    client = OAuth2Session(spa.client_id, redirect_uri=CALLBACK, token_endpoint_auth_method="none")
    token = client.fetch_token(provider.token_endpoint, authorization_response=redirect.headers["Location"],
                               code_verifier=verifier)

    out = http.get(provider.end_session_endpoint, allow_redirects=False, timeout=10, params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/bye"})

    assert out.status_code == 302 and out.headers["Location"] == "http://127.0.0.1:9/bye"
    assert provider.me(token["access_token"]).json()["error"]["message"] == "The token has been revoked."
    assert http.get(f"{live.url}/api/me", timeout=10).status_code == 401  # the MGX session is over too


@pytest.mark.parametrize("how", ["public client mgx", "nobody", "wrong secret"])
def test_introspection_needs_a_confidential_client_that_proves_itself(live, provider, user_factory, app_with_users, how):
    alice = user_factory(username="alice")
    token = OAuth2Session("mgx", token_endpoint_auth_method="none").fetch_token(
        provider.token_endpoint, username="alice", password=alice.raw_password)["access_token"]
    _app, shop, _ = app_with_users("Shop", users=())
    auth, data = {
        "public client mgx": (None, {"token": token, "client_id": "mgx"}),
        "nobody": (None, {"token": token}),
        "wrong secret": ((shop.client_id, "not-the-secret"), {"token": token}),
    }[how]

    refused = requests.post(provider.introspection_endpoint, data=data, auth=auth, timeout=10)

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client" and "active" not in refused.json()
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    assert "no-store" in refused.headers.get("Cache-Control", "")
    assert alice.username not in refused.text


def test_a_confidential_client_introspects_its_own_tokens_with_basic_or_post(live, provider, app_with_users):
    _app, shop, passwords = app_with_users("Shop", users=("bob",))
    token = OAuth2Session(shop.client_id, shop.client_secret).fetch_token(
        provider.token_endpoint, username="bob", password=passwords["bob"])["access_token"]

    basic = requests.post(provider.introspection_endpoint, data={"token": token},
                          auth=(shop.client_id, shop.client_secret), timeout=10)
    post = requests.post(provider.introspection_endpoint, timeout=10,
                         data={"token": token, "client_id": shop.client_id, "client_secret": shop.client_secret})

    assert basic.status_code == post.status_code == 200
    assert basic.json()["active"] is True and basic.json()["username"] == "bob"
    assert post.json()["active"] is True
