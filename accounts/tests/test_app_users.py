"""Apps as OAuth2 clients and their own users, over real HTTP."""
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from oauth2_provider.models import AccessToken, Application

from accounts import selectors, services
from accounts.models import AppMember

from .conftest import hidden_inputs, mgx_user_add_to_app

pytestmark = pytest.mark.django_db(transaction=True)


def _app_client(application):
    return OAuth2Session(application.client_id, application.client_secret)


def test_app_client_has_exact_callbacks_and_its_settings_reach_the_containers(live, app_with_users):
    app, shop, _ = app_with_users("Shop", users=())

    assert shop.client_type == Application.CLIENT_CONFIDENTIAL
    assert shop.redirect_uris.split() == [
        f"{live.apps_url}/apps/shop/dev/auth/callback",
        f"{live.apps_url}/apps/shop/prod/auth/callback",
    ]
    env = selectors.app_oauth_env(app=app, internal_url="http://host.docker.internal:8000")
    assert env["MGX_OAUTH_CLIENT_ID"] == shop.client_id
    assert env["MGX_OAUTH_CLIENT_SECRET"] == shop.client_secret
    assert env["MGX_OAUTH_ISSUER"] == live.url  # what tokens carry, even when fetched internally
    assert env["MGX_OAUTH_JWKS_URL"] == "http://host.docker.internal:8000/oauth2/.well-known/jwks.json"
    # Registering again changes nothing.
    assert services.app_client_register(app=app).application.client_id == shop.client_id


def test_user_of_app_a_is_refused_by_app_b(live, provider, app_with_users):
    _a, shop, shop_users = app_with_users("Shop", users=("bob",))
    _b, blog, _ = app_with_users("Blog", users=("carol",))

    refused = provider.password_grant(blog, "bob", shop_users["bob"], secret=blog.client_secret)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "The user name or password is not correct."}

    token = _app_client(shop).fetch_token(provider.token_endpoint, username="bob", password=shop_users["bob"])
    claims = provider.verify(token["access_token"], audience=shop.client_id)
    assert claims["preferred_username"] == "bob" and claims["app"] == "shop"
    # The app's token is for the app's backend; it never acts on MGX itself.
    me = provider.me(token["access_token"])
    assert me.status_code == 401
    assert me.json()["error"]["message"] == "This token was issued to an app's client; it is not valid for MGX's API."


def test_same_name_in_two_apps_is_two_people(live, provider, app_with_users):
    _a, shop, shop_users = app_with_users("Shop", users=("sam",))
    _b, blog, blog_users = app_with_users("Blog", users=("sam",))

    shop_sam = provider.verify(_app_client(shop).fetch_token(
        provider.token_endpoint, username="sam", password=shop_users["sam"])["access_token"], audience=shop.client_id)
    blog_sam = provider.verify(_app_client(blog).fetch_token(
        provider.token_endpoint, username="sam", password=blog_users["sam"])["access_token"], audience=blog.client_id)

    assert shop_sam["sub"] != blog_sam["sub"]
    assert provider.password_grant(blog, "sam", shop_users["sam"], secret=blog.client_secret).status_code == 400


def test_app_users_cannot_log_into_mgx(live, provider, app_with_users):
    _app, _shop, users = app_with_users("Shop", users=("bob",))

    for name in ("bob", "shop:bob"):
        refused = provider.password_grant(Application.objects.get(client_id="mgx"), name, users["bob"])
        assert refused.status_code == 400

    http = requests.Session()
    http.get(f"{live.url}/accounts/login/", timeout=10)
    page = http.post(f"{live.url}/accounts/login/", timeout=10, allow_redirects=False, data={
        "username": "shop:bob", "password": users["bob"], "csrfmiddlewaretoken": http.cookies["csrftoken"]})
    assert page.status_code == 400
    assert "The user name or password is not correct." in page.text


def test_an_mgx_user_added_to_an_app_logs_into_it_with_their_mgx_password(live, provider, app_with_users, user_factory):
    app, shop, _ = app_with_users("Shop", users=())
    dora = user_factory(username="dora")
    mgx_user_add_to_app(app=app, user=dora)

    token = _app_client(shop).fetch_token(provider.token_endpoint, username="dora", password=dora.raw_password)

    assert provider.verify(token["access_token"], audience=shop.client_id)["sub"] == str(dora.pk)
    live.login("dora", dora.raw_password)  # and still into MGX


def test_disabling_an_app_user_ends_their_sessions_and_logins(live, provider, app_with_users):
    app, shop, users = app_with_users("Shop", users=("bob",))
    client = _app_client(shop)
    token = client.fetch_token(provider.token_endpoint, username="bob", password=users["bob"])
    member = AppMember.objects.get(app=app, username="bob")

    services.app_member_set_active(member=member, active=False)

    assert client.introspect_token(provider.introspection_endpoint, token=token["access_token"]).json() == {"active": False}
    with pytest.raises(OAuthError):
        client.refresh_token(provider.token_endpoint, refresh_token=token["refresh_token"])
    assert provider.password_grant(shop, "bob", users["bob"], secret=shop.client_secret).status_code == 400

    services.app_member_set_active(member=member, active=True)
    assert provider.password_grant(shop, "bob", users["bob"], secret=shop.client_secret).status_code == 200


def test_password_reset_replaces_the_old_password(live, provider, app_with_users):
    app, shop, users = app_with_users("Shop", users=("bob",))
    new = services.app_member_password_reset(member=AppMember.objects.get(app=app, username="bob"))

    assert provider.password_grant(shop, "bob", users["bob"], secret=shop.client_secret).status_code == 400
    assert provider.password_grant(shop, "bob", new, secret=shop.client_secret).status_code == 200


def test_rotating_the_client_secret_retires_the_old_one(live, provider, app_with_users):
    app, shop, users = app_with_users("Shop", users=("bob",))
    old_secret = shop.client_secret

    new_secret = services.app_client_secret_rotate(app=app)

    old = provider.password_grant(shop, "bob", users["bob"], secret=old_secret)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    assert provider.password_grant(shop, "bob", users["bob"], secret=new_secret).status_code == 200


# ---------------------------------------------------------------- self-signup


def test_signup_api_registers_users_only_when_the_owner_allows_it(live, provider, app_with_users):
    app, shop, _ = app_with_users("Shop", users=("bob",))
    url = f"{live.url}/oauth2/signup/"
    auth = (shop.client_id, shop.client_secret)

    closed = requests.post(url, auth=auth, data={"username": "erin", "password": "a long new passphrase"}, timeout=10)
    assert closed.status_code == 403
    assert closed.json() == {"error": "signup_disabled", "error_description": "Shop does not accept new sign-ups."}

    services.app_self_signup_set(app=app, enabled=True)
    made = requests.post(url, auth=auth, json={"username": "erin", "password": "a long new passphrase", "email": "erin@example.org"}, timeout=10)
    assert made.status_code == 201
    assert made.json()["username"] == "erin" and made.json()["email"] == "erin@example.org"

    token = _app_client(shop).fetch_token(provider.token_endpoint, username="erin", password="a long new passphrase")
    assert provider.verify(token["access_token"], audience=shop.client_id)["sub"] == made.json()["sub"]

    taken = requests.post(url, auth=auth, data={"username": "BOB", "password": "another passphrase"}, timeout=10)
    assert taken.status_code == 400 and taken.json()["fields"] == {"username": ["“BOB” is already a user of this app."]}
    weak = requests.post(url, auth=auth, data={"username": "fred", "password": "password"}, timeout=10)
    assert weak.status_code == 400 and "password" in weak.json()["fields"]
    stranger = requests.post(url, auth=(shop.client_id, "wrong"), data={"username": "x", "password": "y"}, timeout=10)
    assert stranger.status_code == 401 and stranger.json()["error"] == "invalid_client"


# ---------------------------------------------------------------- the app's login page (code flow)


def _start(live, http, application, *, verifier):
    session = OAuth2Session(application.client_id, redirect_uri=application.redirect_uris.split()[0],
                            scope="openid profile", code_challenge_method="S256")
    url, state = session.create_authorization_url(f"{live.url}/oauth2/authorize/", code_verifier=verifier)
    return http.get(url, allow_redirects=False, timeout=10), state


def _log_into_app_page(live, http, login_url, username, password):
    page = http.get(live.url + login_url if login_url.startswith("/") else login_url, timeout=10)
    fields = hidden_inputs(page.text) | {"username": username, "password": password}
    return page, http.post(f"{live.url}{urlsplit(page.url).path}", data=fields, allow_redirects=False, timeout=10)


def test_app_user_logs_in_on_the_apps_login_page_and_gets_a_code(live, provider, app_with_users, user_factory):
    app, shop, users = app_with_users("Shop", users=("bob",))
    owner_session = live.login(app.owner.username, app.owner.raw_password)  # an MGX login does not count here
    verifier = generate_token(48)

    start, state = _start(live, owner_session, shop, verifier=verifier)
    assert start.status_code == 302
    assert start.headers["Location"].startswith("/oauth2/apps/shop/login/?next=")

    page, posted = _log_into_app_page(live, owner_session, start.headers["Location"], "bob", users["bob"])
    assert "Log in to Shop" in page.text
    assert posted.status_code == 302 and posted.headers["Location"].startswith("/oauth2/authorize/")

    back = owner_session.get(live.url + posted.headers["Location"], allow_redirects=False, timeout=10)
    callback = back.headers["Location"]
    assert callback.startswith(f"{live.apps_url}/apps/shop/dev/auth/callback?")
    assert parse_qs(urlsplit(callback).query)["state"] == [state]

    client = OAuth2Session(shop.client_id, shop.client_secret, redirect_uri=shop.redirect_uris.split()[0])
    token = client.fetch_token(provider.token_endpoint, authorization_response=callback, code_verifier=verifier)
    id_token = provider.verify(token["id_token"], audience=shop.client_id)
    assert id_token["preferred_username"] == "bob" and id_token["app"] == "shop"
    # Logging into the app did not log anyone into MGX, and the MGX session is still the owner's.
    assert owner_session.get(f"{live.url}/api/me", timeout=10).json()["username"] == app.owner.username


def test_the_apps_login_page_refuses_users_of_other_apps(live, app_with_users):
    _a, shop, _ = app_with_users("Shop", users=("bob",))
    _b, _blog, blog_users = app_with_users("Blog", users=("carol",))
    http = requests.Session()
    start, _ = _start(live, http, shop, verifier=generate_token(48))

    page, posted = _log_into_app_page(live, http, start.headers["Location"], "carol", blog_users["carol"])

    assert posted.status_code == 400
    assert "The user name or password is not correct." in posted.text


def test_rp_initiated_logout_ends_the_app_login_only(live, provider, app_with_users):
    app, shop, users = app_with_users("Shop", users=("bob",))
    http = requests.Session()
    verifier = generate_token(48)
    start, _ = _start(live, http, shop, verifier=verifier)
    _page, posted = _log_into_app_page(live, http, start.headers["Location"], "bob", users["bob"])
    callback = http.get(live.url + posted.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    client = OAuth2Session(shop.client_id, shop.client_secret, redirect_uri=shop.redirect_uris.split()[0])
    token = client.fetch_token(provider.token_endpoint, authorization_response=callback, code_verifier=verifier)

    out = http.get(provider.end_session_endpoint, allow_redirects=False, timeout=10, params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": f"{live.apps_url}/apps/shop/prod/", "state": "bye"})

    assert out.status_code == 302 and out.headers["Location"] == f"{live.apps_url}/apps/shop/prod/?state=bye"
    assert not AccessToken.objects.filter(application=shop).exists()
    again, _ = _start(live, http, shop, verifier=generate_token(48))
    assert again.headers["Location"].startswith("/oauth2/apps/shop/login/")
