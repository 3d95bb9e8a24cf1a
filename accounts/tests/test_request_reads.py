"""What every request reads (its login session, the session's user, the token behind the login,
the app) is read with queries compiled once (core.rows) instead of the ORM: the same rows give
the same values, and every check stays as instant as before. Over HTTP on the live Daphne for
the checks; on the test database (SQLite, or PostgreSQL in CI's second pass) for the values."""
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from oauth2_provider.models import AccessToken

from accounts.backends import LoginSessionBackend
from accounts.selectors import _login_token_row
from core.rows import RowQuery, db_datetime
from core.sessions import LIVE_SESSION, SessionStore
from sessions_app.models import App
from sessions_app.selectors import APP_BY_SLUG, app_for_user

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = {
    User: ["id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
           "is_staff", "is_active", "date_joined"],
}


def _same(a, b, fields):
    return [(f, getattr(a, f)) for f in fields] == [(f, getattr(b, f)) for f in fields]


def test_compiled_reads_give_what_the_orm_gives(user_factory, app_factory):
    alice = user_factory(username="rows-alice")
    User.objects.filter(pk=alice.pk).update(last_login=timezone.now(), is_staff=True)
    alice = User.objects.get(pk=alice.pk)
    loaded = LoginSessionBackend().get_user(alice.pk)
    assert _same(loaded, alice, FIELDS[User]) and type(loaded.last_login) is type(alice.last_login)
    assert loaded.is_staff is True and loaded.last_login.tzinfo is not None and not loaded._state.adding

    app = app_factory(owner=alice, name="Rows App")
    row = APP_BY_SLUG.get(app.slug)
    assert [(f.attname, getattr(row, f.attname)) for f in App._meta.concrete_fields] == \
        [(f.attname, getattr(app, f.attname)) for f in App._meta.concrete_fields]
    assert APP_BY_SLUG.get("no-such-app") is None

    expires = timezone.now() + timedelta(hours=1)
    token = AccessToken.objects.create(user=alice, token="t" * 40, expires=expires, scope="read")
    found = _login_token_row().get(token.pk, alice.pk)
    assert found.pk == token.pk and found.expires == AccessToken.objects.get(pk=token.pk).expires
    assert _login_token_row().get(token.pk, alice.pk + 1) is None  # another user's token is no one's

    session = DjangoSessionStore()
    session["k"] = "v"
    session.create()
    assert LIVE_SESSION.get(session.session_key, db_datetime(timezone.now(), model=Session)).session_data == \
        Session.objects.get(session_key=session.session_key).session_data
    assert SessionStore(session.session_key)["k"] == "v"
    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(session.session_key)
    assert expired.get("k") is None and expired.session_key is None  # as Django's: an expired one is none


def test_an_inactive_user_is_nobody_and_the_owner_is_not_read_twice(user_factory, app_factory, django_assert_num_queries):
    bob = user_factory(username="rows-bob")
    app = app_factory(owner=bob, name="Rows Owner")
    with django_assert_num_queries(1):
        found = app_for_user(user=bob, slug=app.slug)
        assert found.owner is bob
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert LoginSessionBackend().get_user(bob.pk) is None
    assert RowQuery(User, "{username} = %s", fields=("id", "username")).get("rows-bob").username == "rows-bob"


def _cookie_session(user, backend: str) -> str:
    """A login session as Django writes one (what sessions made before this change look like)."""
    session = DjangoSessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def test_every_check_is_still_made_on_every_api_request(live, user_factory, app_factory):
    carol = user_factory(username="rows-carol")
    app = app_factory(owner=carol, name="Rows Checks")
    read = f"{live.url}/api/workspaces/{app.slug}/files?path=package.json"

    http = live.login("rows-carol", carol.raw_password)
    assert http.get(read, timeout=10).status_code == 200
    # The token behind the login revoked (logout elsewhere, an admin): the very next request.
    AccessToken.objects.get(user=carol).revoke()
    assert http.get(read, timeout=10).status_code == 401

    http = live.login("rows-carol", carol.raw_password)
    assert http.get(read, timeout=10).status_code == 200
    # The password changed elsewhere: this login session ends at once.
    carol.set_password("another-password-1")
    carol.save()
    assert http.get(read, timeout=10).status_code == 401

    # Someone else's app: 404, as ever.
    dave = user_factory(username="rows-dave")
    http = live.login("rows-dave", dave.raw_password)
    assert http.get(read, timeout=10).status_code == 404

    # A login session made before MGX's backend (it names Django's ModelBackend) still works.
    old = _cookie_session(dave, "django.contrib.auth.backends.ModelBackend")
    cookies = {"sessionid": old}
    assert requests.get(f"{live.url}/api/me", cookies=cookies, timeout=10).json()["username"] == "rows-dave"
    User.objects.filter(pk=dave.pk).update(is_active=False)
    assert requests.get(f"{live.url}/api/me", cookies=cookies, timeout=10).status_code == 401
