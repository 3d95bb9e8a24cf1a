"""OAuth clients for apps outside MGX: `manage.py oauth_client_register` for operators and
"Your OAuth clients" (/accounts/clients/) for MGX users. A client registered either way logs MGX
users in with the authorization code + PKCE, and their tokens work on MGX's API."""
import html
import re
from io import StringIO

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.test import Client
from oauth2_provider.models import AccessToken, Application

from accounts.models import OAuthClient
from accounts.provider import token_request

from .conftest import CALLBACK, hidden_inputs


def register(*args):
    out = StringIO()
    call_command("oauth_client_register", *args, stdout=out)
    return out.getvalue()


def externals():
    return sorted(Application.objects.filter(mgx__kind=OAuthClient.Kind.EXTERNAL).values_list("client_id", flat=True))


def password_grant(application, username, password, *, secret):
    return token_request({"grant_type": "password", "client_id": application.client_id, "client_secret": secret,
                          "username": username, "password": password, "scope": "read"}, address="192.0.2.9")


# ---------------------------------------------------------------- the command


@pytest.mark.django_db
def test_command_registers_a_confidential_client_and_prints_its_secret_once(user_factory):
    alice = user_factory(username="alice")

    out = register("--name", "Team wiki", "--redirect-uri", "https://wiki.example.org/auth/callback",
                   "--redirect-uri", "http://127.0.0.1:5000/cb", "--grant", "authorization-code",
                   "--grant", "password", "--grant", "refresh-token", "--confidential", "--owner", "alice")

    application = Application.objects.get(name="Team wiki")
    secret = re.search(r"client secret:\s+(\S+)", out).group(1)
    assert f"client id:      {application.client_id}" in out
    assert "Registered the confidential OAuth client “Team wiki” for alice." in out
    assert "authorization-code, password, refresh-token" in out
    assert application.client_type == Application.CLIENT_CONFIDENTIAL and application.user == alice
    assert application.redirect_uris.split() == ["https://wiki.example.org/auth/callback", "http://127.0.0.1:5000/cb"]
    # Kept as a hash only: the printed secret is the one copy.
    assert application.client_secret != secret and check_password(secret, application.client_secret)
    assert application.mgx.kind == OAuthClient.Kind.EXTERNAL and not application.skip_authorization
    status, body = password_grant(application, "alice", alice.raw_password, secret=secret)
    assert status == 200, body
    assert password_grant(application, "alice", alice.raw_password, secret="wrong")[0] == 401


@pytest.mark.django_db
def test_command_registers_a_public_client_without_a_secret():
    out = register("--name", "Notes SPA", "--redirect-uri", CALLBACK, "--grant", "authorization-code", "--public")

    application = Application.objects.get(name="Notes SPA")
    assert "client secret" not in out and application.client_id in out
    assert application.client_type == Application.CLIENT_PUBLIC and application.user is None


@pytest.mark.django_db
@pytest.mark.parametrize("args,message", [
    (["--redirect-uri", "/callback"], "“/callback” must be an absolute http:// or https:// URL"),
    (["--redirect-uri", "ftp://files.example.org/cb"], "must be an absolute http:// or https:// URL"),
    (["--redirect-uri", "https://wiki.example.org/cb#top"], "has a fragment"),
    (["--redirect-uri", "https://wiki.example.org:port/cb"], "is not a valid URL"),
    ([], "The authorization-code grant needs at least one redirect URI."),
    (["--redirect-uri", CALLBACK, "--grant", "implicit"], "Unknown grant “implicit”"),
    (["--redirect-uri", CALLBACK, "--owner", "nobody"], "No MGX user named “nobody”"),
])
def test_command_refuses_bad_input_with_one_line_and_registers_nothing(args, message):
    before = externals()
    grants = [] if "--grant" in args else ["--grant", "authorization-code"]

    with pytest.raises(CommandError) as refused:
        register("--name", "Wiki", *grants, *args, "--confidential")

    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert externals() == before


@pytest.mark.django_db
def test_command_refuses_client_credentials_for_a_public_client_and_needs_a_type():
    with pytest.raises(CommandError, match="Client credentials need a confidential client"):
        register("--name", "Cron", "--grant", "client-credentials", "--public")
    with pytest.raises(CommandError, match="--public --confidential|one of the arguments"):
        register("--name", "Cron", "--grant", "client-credentials")
    assert externals() == []


# ---------------------------------------------------------------- the page


@pytest.mark.django_db
def test_page_refuses_a_bad_redirect_uri_and_registers_nothing(client, user_factory):
    client.force_login(user_factory(username="alice"))

    answer = client.post("/accounts/clients/", {"name": "Wiki", "redirect_uris": "https://ok.example.org/cb\nwiki/cb",
                                                "client_type": "confidential", "grants": ["authorization-code"]})

    assert answer.status_code == 400
    assert "“wiki/cb” must be an absolute http:// or https:// URL" in html.unescape(answer.content.decode())
    assert externals() == []


@pytest.mark.django_db
def test_profile_links_to_the_clients_page(client, user_factory):
    client.force_login(user_factory(username="alice"))
    assert 'href="/accounts/clients/"' in client.get("/accounts/profile/").content.decode()


def _register_on_page(http, base, **fields):
    page = http.get(f"{base}/accounts/clients/", timeout=10)
    assert page.status_code == 200 and "Your OAuth clients" in page.text
    data = {"name": "Team wiki", "redirect_uris": CALLBACK, "client_type": "confidential",
            "grants": ["authorization-code", "refresh-token"], **fields,
            "csrfmiddlewaretoken": http.cookies["csrftoken"]}
    done = http.post(f"{base}/accounts/clients/", data=data, headers={"Referer": f"{base}/accounts/clients/"},
                     timeout=10)
    assert done.status_code == 200, done.text[:500]
    client_id = re.search(r'<code class="client-id">([^<]+)</code>', done.text).group(1)
    secret = re.search(r'<code class="secret-value">([^<]+)</code>', done.text)
    return client_id, (html.unescape(secret.group(1)) if secret else None), done


@pytest.mark.django_db(transaction=True)
def test_a_client_registered_on_the_page_logs_a_user_in_with_pkce_and_its_token_works_on_the_api(live, user_factory):
    alice = user_factory(username="alice")
    http = live.login("alice", alice.raw_password)

    client_id, secret, detail = _register_on_page(http, live.url)

    assert secret and "Shown this once" in detail.text
    again = http.get(f"{live.url}/accounts/clients/{client_id}/", timeout=10)
    assert again.status_code == 200 and secret not in again.text  # once only
    listing = http.get(f"{live.url}/accounts/clients/", timeout=10).text
    assert client_id in listing and "Team wiki" in listing

    # The authorization code flow with PKCE (S256), as an app's OAuth library runs it.
    verifier = generate_token(48)
    oauth = OAuth2Session(client_id, client_secret=secret, redirect_uri=CALLBACK, scope="openid profile read",
                          code_challenge_method="S256")
    url, state = oauth.create_authorization_url(f"{live.url}/oauth2/authorize/", code_verifier=verifier)
    consent = http.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 200 and "Team wiki" in consent.text
    fields = {**hidden_inputs(consent.text), "allow": "on"}
    redirect = http.post(f"{live.url}/oauth2/authorize/", data=fields, allow_redirects=False, timeout=10,
                         headers={"Referer": url})
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith(CALLBACK + "?")
    token = oauth.fetch_token(f"{live.url}/oauth2/token/", authorization_response=redirect.headers["Location"],
                              code_verifier=verifier)

    me = requests.get(f"{live.url}/api/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice" and me.json()["client_id"] == client_id
    assert me.json()["auth"] == "bearer"

    # Without the verifier the code is worthless, even with the secret.
    url2, _ = oauth.create_authorization_url(f"{live.url}/oauth2/authorize/", code_verifier=generate_token(48))
    redirect2 = http.get(url2, allow_redirects=False, timeout=10)  # already allowed: straight back
    assert redirect2.status_code == 302, redirect2.text[:300]
    code = re.search(r"code=([^&]+)", redirect2.headers["Location"]).group(1)
    stolen = requests.post(f"{live.url}/oauth2/token/", auth=(client_id, secret), timeout=10,
                           data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK})
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_request"

    # Deleting the client ends what it was given.
    page = http.get(f"{live.url}/accounts/clients/{client_id}/", timeout=10)
    gone = http.post(f"{live.url}/accounts/clients/{client_id}/delete", timeout=10, allow_redirects=False,
                     data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
                     headers={"Referer": page.url})
    assert gone.status_code == 302 and gone.headers["Location"] == "/accounts/clients/"
    assert requests.get(f"{live.url}/api/me", headers={"Authorization": f"Bearer {token['access_token']}"},
                        timeout=10).status_code == 401
    assert not Application.objects.filter(client_id=client_id).exists()


@pytest.mark.django_db
def test_only_the_owner_sees_or_touches_a_client(user_factory):
    alice, mallory = user_factory(username="alice"), user_factory(username="mallory")
    admin = user_factory(username="root", is_staff=True, is_superuser=True)
    owner = Client()
    owner.force_login(alice)
    created = owner.post("/accounts/clients/", {"name": "Alice's wiki", "redirect_uris": CALLBACK,
                                                "client_type": "confidential", "grants": ["authorization-code"]})
    assert created.status_code == 302
    application = Application.objects.get(name="Alice's wiki")
    before = (application.client_secret, application.redirect_uris)

    for intruder in (mallory, admin):
        other = Client()
        other.force_login(intruder)
        base = f"/accounts/clients/{application.client_id}/"
        assert other.get(base).status_code == 404
        assert other.post(base + "secret").status_code == 404
        assert other.post(base + "delete").status_code == 404
        assert "Alice's wiki" not in other.get("/accounts/clients/").content.decode()

    application.refresh_from_db()
    assert (application.client_secret, application.redirect_uris) == before


@pytest.mark.django_db
def test_rotating_the_secret_shows_the_new_one_once_and_the_old_one_stops_working(client, user_factory):
    alice = user_factory(username="alice")
    client.force_login(alice)
    client.post("/accounts/clients/", {"name": "Wiki", "redirect_uris": CALLBACK, "client_type": "confidential",
                                       "grants": ["authorization-code", "password"]})
    application = Application.objects.get(name="Wiki")
    first = re.search(r'class="secret-value">([^<]+)<',
                      client.get(f"/accounts/clients/{application.client_id}/").content.decode()).group(1)

    rotated = client.post(f"/accounts/clients/{application.client_id}/secret", follow=True)

    text = rotated.content.decode()
    second = re.search(r'class="secret-value">([^<]+)<', text).group(1)
    assert second != first and "the old one no longer works" in text
    assert password_grant(application, "alice", alice.raw_password, secret=first)[0] == 401
    assert password_grant(application, "alice", alice.raw_password, secret=second)[0] == 200
    assert "secret-value" not in client.get(f"/accounts/clients/{application.client_id}/").content.decode()
    assert AccessToken.objects.filter(application=application).count() == 1
