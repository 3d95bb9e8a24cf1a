"""The Users tab is a page people open often; opening it must not change anything. The app's
OAuth client comes with the app, and apps made before that got theirs in a data migration."""
import importlib

import pytest
from django.apps import apps as django_apps
from oauth2_provider.models import Application

from accounts import selectors
from accounts.models import OAuthClient

pytestmark = pytest.mark.django_db


def _forget_client(app) -> None:
    """An app as it was before apps came with their client."""
    Application.objects.filter(pk=selectors.app_client_get(app=app).application_id).delete()
    assert selectors.app_client_get(app=app) is None


def test_opening_the_users_tab_registers_nothing(client, app_factory):
    app = app_factory(name="Old Shop")
    _forget_client(app)
    client.force_login(app.owner)

    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        page = client.get(f"/sessions/{app.slug}/users/", **headers)
        assert page.status_code == 200
    page = client.get(f"/sessions/{app.slug}/?tab=users")
    assert page.status_code == 200

    assert selectors.app_client_get(app=app) is None
    assert not Application.objects.filter(name=f"{app.name} ({app.slug})").exists()


def test_apps_made_before_their_client_get_one_from_the_migration(app_factory):
    old, current = app_factory(name="Old Shop"), app_factory(name="New Shop")
    _forget_client(old)
    kept = selectors.app_client_get(app=current).application.client_id

    migration = importlib.import_module("accounts.migrations.0004_every_app_has_a_client")
    migration._register_missing(django_apps, None)

    client = selectors.app_client_get(app=old)
    assert client is not None and client.kind == OAuthClient.Kind.APP
    assert client.application.redirect_uris.split() == selectors.app_callback_urls(app=old)
    assert selectors.app_oauth_env(app=old)["MGX_OAUTH_CLIENT_SECRET"] == client.application.client_secret
    assert selectors.app_client_get(app=current).application.client_id == kept  # nothing else changed
    assert OAuthClient.objects.filter(app=current).count() == 1
