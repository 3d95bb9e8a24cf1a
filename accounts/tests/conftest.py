"""Fixtures for the provider tests: OAuth clients registered the way an admin would, apps with
members, and authlib (a client library nobody here wrote) to talk to the provider over HTTP."""
import re
import warnings

import pytest
import requests
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from accounts import services
from accounts.models import AppMember, OAuthClient

import authlib.deprecate  # noqa: E402,F401  (installs authlib's own "always warn" filter first)

with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc (same author, same behaviour); it is the
    # JOSE implementation of the client library these tests use.
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt  # noqa: F401

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def oauth_client(db):
    """An external client as an admin registers it in the Django admin."""

    def make(name="Script", *, client_type=Application.CLIENT_PUBLIC, grant=Application.GRANT_AUTHORIZATION_CODE,
             redirect_uris=CALLBACK, extra_grant_types="", access_token_seconds=None, skip_authorization=False):
        secret = generate_client_secret() if client_type == Application.CLIENT_CONFIDENTIAL else ""
        application = Application.objects.create(
            name=name,
            client_type=client_type,
            authorization_grant_type=grant,
            redirect_uris=redirect_uris,
            client_secret=secret,
            hash_client_secret=False,
            skip_authorization=skip_authorization,
            algorithm=Application.RS256_ALGORITHM,
        )
        OAuthClient.objects.create(
            application=application, kind=OAuthClient.Kind.EXTERNAL,
            extra_grant_types=extra_grant_types, access_token_seconds=access_token_seconds,
        )
        application.raw_secret = secret
        return application

    return make


@pytest.fixture
def app_with_users(app_factory, user_factory):
    """An app with its OAuth client and app-only users; returns (app, client, {name: password})."""

    def make(name="Shop", users=("bob",), owner=None, self_signup=False):
        app = app_factory(owner=owner or user_factory(username=f"owner-of-{name.lower()}"), name=name)
        client = services.app_client_register(app=app)
        if self_signup:
            services.app_self_signup_set(app=app, enabled=True)
        passwords = {}
        for username in users:
            _member, passwords[username] = services.app_member_create(app=app, username=username)
        client.application.refresh_from_db()
        return app, client.application, passwords

    return make


class Provider:
    """The provider's endpoints as discovery announces them."""

    def __init__(self, live):
        self.live = live
        self.meta = requests.get(f"{live.url}/oauth2/.well-known/openid-configuration", timeout=10).json()

    def __getattr__(self, name):
        return self.meta[name]

    def jwks(self):
        return requests.get(self.meta["jwks_uri"], timeout=10).json()

    def verify(self, token: str, *, audience: str) -> dict:
        """Verify a JWT the way an app does: keys from the JWKS, then iss/aud/exp."""
        claims = jwt.decode(
            token,
            JsonWebKey.import_key_set(self.jwks()),
            claims_options={
                "iss": {"essential": True, "value": self.meta["issuer"]},
                "aud": {"essential": True, "value": audience},
                "exp": {"essential": True},
                "sub": {"essential": True},
            },
        )
        claims.validate()
        return dict(claims)

    def me(self, token: str) -> requests.Response:
        return requests.get(f"{self.live.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def password_grant(self, client, username, password, *, secret=None, scope=None, headers=None) -> requests.Response:
        data = {"grant_type": "password", "username": username, "password": password, "client_id": client.client_id}
        if scope:
            data["scope"] = scope
        auth = (client.client_id, secret) if secret else None
        if secret:
            data.pop("client_id")
        return requests.post(self.meta["token_endpoint"], data=data, auth=auth, headers=headers or {}, timeout=10)


@pytest.fixture
def provider(live):
    return Provider(live)


def hidden_inputs(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = (value.group(1) if value else "").replace("&amp;", "&").replace("&quot;", '"')
    return fields


def mgx_user_add_to_app(*, app, user) -> AppMember:
    """Let an existing MGX user log into `app` with their MGX name and password. No page does
    this yet (the owner adds app-only users), so it lives with the tests that need it."""
    member, _ = AppMember.objects.get_or_create(
        app=app, user=user, defaults={"username": user.get_username(), "app_only": False}
    )
    return member
