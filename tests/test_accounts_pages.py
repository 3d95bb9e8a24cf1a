"""Accounts pages in headless Chromium: login (and its lockout), the profile with SSH keys, an
app's users page, and an app user logging into their app on MGX's login page for it."""
import os

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from accounts import services
from accounts.models import AppMember
from accounts.tests.test_ssh_keys import ED25519, ED25519_FP

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = os.environ.get("MGX_SCREENSHOTS")  # a directory: save what each page looked like


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_login_page_shows_errors_then_the_lockout(live, page, user_factory):
    alice = user_factory(username="alice")
    page.goto(f"{live.url}/accounts/login/")
    for attempt in range(5):
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", f"wrong {attempt}")
        page.click("form button.btn-primary")
        assert page.locator(".alert-error").inner_text() == "The user name or password is not correct."
    assert page.input_value("input[name=username]") == "alice"  # the name is kept, the password not

    page.fill("input[name=password]", alice.raw_password)
    page.click("form button.btn-primary")
    assert page.locator(".alert-error").inner_text() == "Too many failed logins. Try again in 15 minutes."
    shot(page, "login-locked")


def test_profile_adds_lists_and_deletes_ssh_keys(live, page, user_factory, browser_login):
    dana = user_factory(username="dana", email="dana@example.org")
    browser_login(page, dana)

    page.click(".usermenu .username a")
    page.wait_for_selector("h1:has-text('dana')")
    assert "No SSH keys yet." in page.locator("#ssh-keys").inner_text()

    page.fill("textarea[name=public_key]", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC2 truncated")
    page.click("#ssh-keys button:has-text('Add SSH key')")
    assert "damaged or cut off" in page.locator("#ssh-keys .field-error").inner_text()

    page.fill("textarea[name=public_key]", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----")
    page.click("#ssh-keys button:has-text('Add SSH key')")
    assert "That is a private key." in page.locator("#ssh-keys .field-error").inner_text()

    page.fill("input[name=title]", "Work laptop")
    page.fill("textarea[name=public_key]", ED25519)
    page.click("#ssh-keys button:has-text('Add SSH key')")
    assert f"Added SSH key “Work laptop” ({ED25519_FP})." in page.locator(".flash").inner_text()
    item = page.locator(".key-item")
    assert item.count() == 1
    assert item.locator(".key-title").inner_text() == "Work laptop"
    assert item.locator(".fingerprint").inner_text() == ED25519_FP
    assert "ssh-ed25519 · 256 bits" in item.locator(".key-meta").inner_text()
    shot(page, "profile")

    page.once("dialog", lambda dialog: dialog.accept())
    item.locator("button:has-text('Delete')").click()
    page.wait_for_selector(".flash:has-text('Deleted SSH key “Work laptop”.')")
    assert page.locator(".key-item").count() == 0


def test_profile_password_change_keeps_this_session(live, page, user_factory, browser_login):
    erin = user_factory(username="erin")
    browser_login(page, erin)
    page.goto(f"{live.url}/accounts/profile/")
    page.fill("input[name=old_password]", erin.raw_password)
    page.fill("input[name=new_password1]", "a brand new passphrase")
    page.fill("input[name=new_password2]", "a brand new passphrase")
    page.click("#password button[type=submit]")
    assert "Your password has been changed." in page.locator(".flash").inner_text()
    page.goto(f"{live.url}/")
    assert page.locator(".usermenu .username").inner_text() == "erin"


def test_app_users_page_creates_disables_resets_and_opens_signup(live, page, app_factory, user_factory, browser_login):
    owner = user_factory(username="olga")
    app = app_factory(owner=owner, name="Book Club")
    browser_login(page, owner)

    page.goto(f"{live.url}/sessions/{app.slug}/users/")
    assert page.locator("h1").inner_text() == "Users of Book Club"
    # The owner is the app's first user, through their MGX account, and nobody else yet.
    listed = page.locator("#app-users").inner_text()
    assert "1 active" in listed and "olga\nMGX account" in listed and "reader1" not in listed
    assert page.locator(".signup-state").inner_text().startswith("Closed")

    page.fill("#app-users input[name=username]", "reader1")
    page.fill("#app-users input[name=email]", "reader1@example.org")
    page.click("#app-users button:has-text('Add user')")
    page.wait_for_selector(".secret-box")
    assert page.locator(".secret-box strong").inner_text() == "Password for reader1"
    generated = page.locator(".secret-value").inner_text()
    assert len(generated) >= 16
    row = page.locator("tr.member[data-username=reader1]")
    assert "reader1@example.org" in row.inner_text() and "active" in row.inner_text()
    shot(page, "app-users")

    # The generated password works at the app's token endpoint.
    client = services.app_client_register(app=app).application
    session = OAuth2Session(client.client_id, client.client_secret)
    session.fetch_token(f"{live.url}/oauth2/token/", username="reader1", password=generated)

    page.fill("#app-users input[name=username]", "READER1")
    page.click("#app-users button:has-text('Add user')")
    page.wait_for_selector(".field-error")
    assert page.locator("#app-users .field-error").inner_text() == "“READER1” is already a user of this app."

    row.locator("button:has-text('Disable')").click()
    page.wait_for_selector("tr.member[data-username=reader1] .badge-off")
    assert not AppMember.objects.get(username="reader1").is_active
    assert "Disabled “reader1”" in page.locator("#app-users .flash").inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr.member[data-username=reader1] button:has-text('Reset password')").click()
    page.wait_for_selector(".secret-box strong:has-text('New password for reader1')")
    assert page.locator(".secret-value").inner_text() != generated

    page.click("button:has-text('Allow sign-up')")
    page.wait_for_selector(".signup-state:has-text('Open')")
    assert services.app_client_register(app=app).self_signup is True

    # Reloading shows the same state, and the one-time secret is gone.
    page.reload()
    assert page.locator(".secret-box").count() == 0
    assert page.locator(".signup-state").inner_text().startswith("Open")


def test_app_users_page_is_only_for_the_owner(live, page, app_factory, user_factory, browser_login):
    app = app_factory(owner=user_factory(username="olga"), name="Book Club")
    browser_login(page, user_factory(username="mallory"))

    response = page.goto(f"{live.url}/sessions/{app.slug}/users/")

    assert response.status == 404
    assert not AppMember.objects.filter(app=app).exclude(user=app.owner).exists()  # the owner is one


def test_app_user_signs_up_and_logs_into_their_app_in_the_browser(live, page, app_factory, user_factory):
    app = app_factory(owner=user_factory(username="olga"), name="Book Club")
    client = services.app_client_register(app=app).application
    services.app_self_signup_set(app=app, enabled=True)
    callback = client.redirect_uris.split()[0]
    url, state = OAuth2Session(client.client_id, redirect_uri=callback, scope="openid",
                               code_challenge_method="S256").create_authorization_url(
        f"{live.url}/oauth2/authorize/", code_verifier=generate_token(48))

    page.goto(url)
    assert page.locator("h1").inner_text() == "Log in to Book Club"
    shot(page, "app-login")
    page.click("text=Create an account")
    page.fill("input[name=username]", "new reader")
    page.fill("input[name=password]", "password")
    page.fill("input[name=password2]", "passw0rd")
    page.click("form button.btn-primary")
    errors = page.locator(".field-error").all_inner_texts()
    assert "Use up to 100 letters, digits and . @ + - _ (no spaces)." in errors
    assert "This password is too common." in errors and "The two passwords differ." in errors
    assert not AppMember.objects.filter(app=app).exclude(user=app.owner).exists()  # the owner is one

    page.fill("input[name=username]", "newreader")
    page.fill("input[name=password]", "turn the page slowly")
    page.fill("input[name=password2]", "turn the page slowly")
    with page.expect_request(lambda r: r.url.startswith(callback)) as arrived:
        page.click("form button.btn-primary")
    assert f"state={state}" in arrived.value.url and "code=" in arrived.value.url
    assert AppMember.objects.get(app=app, username="newreader").source == AppMember.Source.SIGNUP
