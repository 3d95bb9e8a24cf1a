"""MGX's own login through the provider, throttling, and signing-key rotation — over HTTP."""
import base64
import json
from datetime import timedelta

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

pytestmark = pytest.mark.django_db(transaction=True)

LOCKED = "Too many failed logins. Try again in 15 minutes."


def _kid(token: str) -> str:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def _post_login(live, username, password, *, address=None, http=None):
    http = http or requests.Session()
    headers = {"X-Forwarded-For": address} if address else {}
    http.get(f"{live.url}/accounts/login/", headers=headers, timeout=10)
    return http.post(f"{live.url}/accounts/login/", headers=headers, allow_redirects=False, timeout=10, data={
        "username": username, "password": password, "csrfmiddlewaretoken": http.cookies["csrftoken"]})


def test_login_binds_the_session_to_a_provider_token_and_logout_revokes_it(live, user_factory):
    alice = user_factory(username="alice")

    http = live.login("alice", alice.raw_password)

    token = AccessToken.objects.get(user=alice)
    assert token.application.client_id == "mgx" and token.scope == "read write"
    assert http.get(f"{live.url}/api/me", timeout=10).json()["auth"] == "session"

    http.post(f"{live.url}/accounts/logout/", data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
              headers={"Referer": live.url}, timeout=10)

    assert not AccessToken.objects.filter(user=alice).exists()
    assert http.get(f"{live.url}/api/me", timeout=10).status_code == 401


def test_revoking_the_token_ends_the_browser_session(live, user_factory):
    alice = user_factory(username="alice")
    http = live.login("alice", alice.raw_password)
    assert http.get(f"{live.url}/", allow_redirects=False, timeout=10).status_code == 200

    AccessToken.objects.get(user=alice).revoke()  # an admin revoking it, or an RP-initiated logout

    page = http.get(f"{live.url}/", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/accounts/login/")


def test_an_expired_session_token_is_renewed_with_its_refresh_token(live, user_factory):
    alice = user_factory(username="alice")
    http = live.login("alice", alice.raw_password)
    first = AccessToken.objects.get(user=alice)
    # Expired as the provider records it; no waiting on the clock.
    AccessToken.objects.filter(pk=first.pk).update(expires=timezone.now() - timedelta(seconds=1))

    page = http.get(f"{live.url}/", allow_redirects=False, timeout=10)

    assert page.status_code == 200 and "Your apps" in page.text
    renewed = AccessToken.objects.get(user=alice)
    assert renewed.pk != first.pk and renewed.source_refresh_token is not None


def test_admin_login_goes_through_mgx_login(live):
    page = requests.get(f"{live.url}/admin/login/", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/accounts/login/")


def test_repeated_bad_passwords_lock_the_name_at_that_address_for_a_while(live, provider, user_factory):
    alice = user_factory(username="alice")
    user_factory(username="bruno")

    for attempt in range(5):
        bad = _post_login(live, "alice", f"guess {attempt}")
        assert bad.status_code == 400 and "The user name or password is not correct." in bad.text

    locked = _post_login(live, "alice", alice.raw_password)  # the right password, too late
    assert locked.status_code == 400 and LOCKED in locked.text
    # The token endpoint applies the same lock: it is the same check.
    grant = provider.password_grant(Application.objects.get(client_id="mgx"), "ALICE", alice.raw_password)
    assert grant.json() == {"error": "invalid_grant", "error_description": LOCKED}
    # Someone else from the same address is not affected.
    assert _post_login(live, "bruno", "correct horse battery").status_code == 302


def test_a_name_that_does_not_exist_locks_the_same_way(live):
    for attempt in range(5):
        _post_login(live, "nobody", f"guess {attempt}")
    assert LOCKED in _post_login(live, "nobody", "anything").text


def test_many_failures_from_one_address_lock_that_address(live, user_factory):
    carol = user_factory(username="carol")
    for attempt in range(20):  # spread over names so no single name reaches its own limit
        _post_login(live, f"user{attempt % 5}", "guess", address="203.0.113.9")

    from_there = _post_login(live, "carol", carol.raw_password, address="203.0.113.9")
    assert from_there.status_code == 400 and LOCKED in from_there.text
    assert _post_login(live, "carol", carol.raw_password, address="198.51.100.4").status_code == 302


def test_a_stranger_failing_from_one_address_does_not_lock_the_owner_out(live, provider, user_factory):
    alice = user_factory(username="alice")
    for attempt in range(5):
        _post_login(live, "alice", f"guess {attempt}", address="203.0.113.7")

    # The stranger is locked, even once they guess right ...
    stranger = _post_login(live, "alice", alice.raw_password, address="203.0.113.7")
    assert stranger.status_code == 400 and LOCKED in stranger.text
    # ... and alice, at her own address, is not: through the form and through the token endpoint.
    assert _post_login(live, "alice", alice.raw_password, address="198.51.100.20").status_code == 302
    grant = provider.password_grant(Application.objects.get(client_id="mgx"), "alice", alice.raw_password,
                                    headers={"X-Forwarded-For": "198.51.100.20"})
    assert grant.status_code == 200, grant.text


def _expire_lockouts():
    """What waiting out a lockout does, without waiting."""
    from accounts.models import LoginThrottle

    LoginThrottle.objects.filter(locked_until__isnull=False).update(
        locked_until=timezone.now() - timedelta(seconds=1), window_started_at=timezone.now() - timedelta(seconds=1))


def test_each_lockout_of_the_same_name_and_address_lasts_twice_as_long(live, user_factory):
    alice = user_factory(username="alice")
    messages = []
    for _round in range(3):
        for attempt in range(5):
            _post_login(live, "alice", f"guess {attempt}", address="203.0.113.8")
        messages.append(_post_login(live, "alice", alice.raw_password, address="203.0.113.8").text)
        _expire_lockouts()

    assert LOCKED in messages[0]
    assert "Too many failed logins. Try again in 30 minutes." in messages[1]
    assert "Too many failed logins. Try again in 60 minutes." in messages[2]
    # Waited out, the right password works again from there, and the count starts afresh.
    assert _post_login(live, "alice", alice.raw_password, address="203.0.113.8").status_code == 302
    for attempt in range(5):
        _post_login(live, "alice", f"guess {attempt}", address="203.0.113.8")
    assert LOCKED in _post_login(live, "alice", alice.raw_password, address="203.0.113.8").text


def test_growing_lockouts_stop_at_a_day(live, user_factory):
    from accounts.models import LoginThrottle

    user_factory(username="alice")
    for _round in range(2):
        for attempt in range(5):
            _post_login(live, "alice", f"guess {attempt}", address="203.0.113.9")
        _expire_lockouts()
    LoginThrottle.objects.filter(scope=LoginThrottle.Scope.PAIR).update(lockouts=40)
    for attempt in range(5):
        _post_login(live, "alice", f"guess {attempt}", address="203.0.113.9")

    assert "Too many failed logins. Try again in 24 hours." in _post_login(live, "alice", "x", address="203.0.113.9").text


def test_rotating_the_signing_key_keeps_old_tokens_valid(live, provider, user_factory):
    alice = user_factory(username="alice")
    client = OAuth2Session("mgx", token_endpoint_auth_method="none")
    before = client.fetch_token(provider.token_endpoint, username="alice", password=alice.raw_password)["access_token"]
    old_kids = [k["kid"] for k in provider.jwks()["keys"]]

    call_command("rotate_signing_key", stdout=open("/dev/null", "w"))

    keys = [k["kid"] for k in provider.jwks()["keys"]]
    assert len(keys) == len(old_kids) + 1 and keys[1:] == old_kids  # new key first, old ones kept
    after = client.fetch_token(provider.token_endpoint, username="alice", password=alice.raw_password)["access_token"]
    assert provider.verify(before, audience="mgx")["sub"] == str(alice.pk)
    assert provider.verify(after, audience="mgx")["sub"] == str(alice.pk)
    assert provider.me(before).status_code == 200 and provider.me(after).status_code == 200
    assert _kid(before) == old_kids[0] and _kid(after) == keys[0] != old_kids[0]
