"""Who may see and use the accounts pages (Django's test client, in-process), and the pieces
behind them: SSH keys per account, the users page as an HTMX panel."""
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from accounts import selectors, services
from accounts.models import AppMember

from .test_ssh_keys import ECDSA, ED25519, ED25519_FP

pytestmark = pytest.mark.django_db


def test_a_key_belongs_to_one_account(user_factory):
    alice, bob = user_factory(username="alice"), user_factory(username="bob")
    key = services.ssh_key_add(user=alice, public_key=ED25519)
    assert key.title == "dev@laptop" and key.fingerprint == ED25519_FP

    with pytest.raises(ValidationError) as again:
        services.ssh_key_add(user=alice, public_key=ED25519, title="same key")
    assert again.value.message_dict == {"public_key": ["You have already added this key."]}
    with pytest.raises(ValidationError) as other:
        services.ssh_key_add(user=bob, public_key=ED25519)
    assert "already in use by another account" in other.value.message_dict["public_key"][0]

    services.ssh_key_add(user=bob, public_key=ECDSA, title="Bob's desktop")
    assert [k.title for k in selectors.ssh_keys_for(user=bob)] == ["Bob's desktop"]
    services.ssh_key_delete(user=alice, key_id=key.pk)
    assert not selectors.ssh_keys_for(user=alice).exists()


def test_profile_needs_a_login(client):
    page = client.get("/accounts/profile/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


def test_a_key_someone_else_owns_cannot_be_deleted_by_me(client, user_factory):
    alice, mallory = user_factory(username="alice"), user_factory(username="mallory")
    key = services.ssh_key_add(user=alice, public_key=ED25519)
    client.force_login(mallory)
    assert client.post(f"/accounts/profile/keys/{key.pk}/delete/").status_code == 404
    assert selectors.ssh_keys_for(user=alice).count() == 1


USERS_URLS = [
    ("get", "", {}),
    ("post", "new", {"username": "added-by-{who}"}),
    ("post", "{member}/active", {"active": "0"}),
    ("post", "{member}/password", {}),
    ("post", "signup", {"enabled": "1"}),
    ("post", "client-secret", {}),
]
USERS_IDS = [f"{m.upper()} users/{u}" for m, u, _ in USERS_URLS]


@pytest.fixture
def shop(app_factory, user_factory):
    app = app_factory(owner=user_factory(username="olga"), name="Shop")
    member, _ = services.app_member_create(app=app, username="bob")
    return app, member


def _state(app):
    client = services.app_client_register(app=app)
    return (
        sorted(AppMember.objects.filter(app=app).values_list("username", "is_active", "user__password")),
        client.self_signup,
        client.application.client_secret,
    )


@pytest.mark.parametrize("method, url, data", USERS_URLS, ids=USERS_IDS)
def test_owner_and_admins_may_use_the_users_page(client, shop, user_factory, method, url, data):
    app, member = shop
    for who in (app.owner, user_factory(username="root", is_superuser=True, is_staff=True)):
        client.force_login(who)
        sent = {k: v.format(who=who.username) for k, v in data.items()}
        response = getattr(client, method)(f"/sessions/{app.slug}/users/" + url.format(member=member.pk), sent)
        assert response.status_code in (200, 302), response.content[:300]


@pytest.mark.parametrize("method, url, data", USERS_URLS, ids=USERS_IDS)
def test_anyone_else_gets_404_and_changes_nothing(client, shop, user_factory, method, url, data):
    app, member = shop
    before = _state(app)
    app_user = AppMember.objects.get(pk=member.pk).user
    for who in (user_factory(username="mallory"), app_user):
        client.force_login(who)
        response = getattr(client, method)(f"/sessions/{app.slug}/users/" + url.format(member=member.pk), data)
        assert response.status_code == 404
    client.logout()
    anonymous = getattr(client, method)(f"/sessions/{app.slug}/users/" + url.format(member=member.pk), data)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert _state(app) == before


def test_a_member_of_another_app_cannot_be_touched_through_my_app(client, shop, app_factory):
    app, bob = shop
    mine = app_factory(owner=app.owner, name="Mine")
    client.force_login(app.owner)
    assert client.post(f"/sessions/{mine.slug}/users/{bob.pk}/active", {"active": "0"}).status_code == 404
    assert AppMember.objects.get(pk=bob.pk).is_active


def test_htmx_gets_the_users_panel_alone(client, shop):
    app, _ = shop
    client.force_login(app.owner)

    panel = client.get(f"/sessions/{app.slug}/users/", headers={"HX-Request": "true"})
    html = panel.content.decode()
    assert panel.status_code == 200 and html.lstrip().startswith('<div id="app-users"') and "<html" not in html

    made = client.post(f"/sessions/{app.slug}/users/new", {"username": "carol"}, headers={"HX-Request": "true"})
    assert made.status_code == 200
    assert "Created user “carol”." in made.content.decode() and "Password for carol" in made.content.decode()

    bad = client.post(f"/sessions/{app.slug}/users/new", {"username": "has space"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert "Use up to 100 letters, digits and . @ + - _ (no spaces)." in bad.content.decode()


def test_the_admin_covers_users_app_users_clients_keys_and_lockouts(client, shop, user_factory):
    app, bob = shop
    services.ssh_key_add(user=app.owner, public_key=ECDSA)
    client.force_login(user_factory(username="root", is_superuser=True, is_staff=True))
    shop_client = services.app_client_register(app=app).application
    for url in (
        "/admin/auth/user/", f"/admin/auth/user/{bob.user_id}/change/", "/admin/auth/user/?kind=app",
        "/admin/accounts/appmember/", f"/admin/accounts/appmember/{bob.pk}/change/",
        "/admin/oauth2_provider/application/", f"/admin/oauth2_provider/application/{shop_client.pk}/change/",
        "/admin/accounts/sshkey/", "/admin/accounts/loginthrottle/", "/admin/oauth2_provider/accesstoken/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
    users = client.get("/admin/auth/user/?kind=app").content.decode()
    assert "shop:bob" in users and ">olga<" not in users
    assert "Generated app" in client.get("/admin/oauth2_provider/application/").content.decode()


def test_an_admin_sees_who_is_locked_where_and_unlocks_them(client, user_factory):
    from oauth2_provider.models import Application

    from accounts.models import LoginThrottle

    alice = user_factory(username="alice")
    mgx = Application.objects.get(client_id="mgx")
    for attempt in range(5):
        services.credentials_check(application=mgx, username="alice", password=f"guess {attempt}", address="203.0.113.5")
    with pytest.raises(services.LoginLocked):
        services.credentials_check(application=mgx, username="alice", password=alice.raw_password, address="203.0.113.5")
    client.force_login(user_factory(username="root", is_superuser=True, is_staff=True))
    listing = client.get("/admin/accounts/loginthrottle/").content.decode()
    assert "alice @ 203.0.113.5" in listing

    pair = LoginThrottle.objects.get(key="alice @ 203.0.113.5")
    client.post("/admin/accounts/loginthrottle/", {"action": "unlock", "_selected_action": [pair.pk]})

    assert services.credentials_check(application=mgx, username="alice", password=alice.raw_password,
                                      address="203.0.113.5") == alice


def test_deleting_an_app_deletes_its_client_and_its_users(shop):
    from oauth2_provider.models import Application

    from sessions_app.models import App

    app, bob = shop
    client_id = services.app_client_register(app=app).application.client_id
    App.objects.filter(pk=app.pk).delete()
    assert not Application.objects.filter(client_id=client_id).exists()
    assert not AppMember.objects.filter(pk=bob.pk).exists()
    assert not get_user_model().objects.filter(username="shop:bob").exists()
