"""An app's users: app-only accounts the owner adds (or that sign up on the app's login form),
enabling, disabling and password resets. Disabling or a reset ends the person's sessions in
the app (their tokens for the app's client are revoked)."""
import re
import secrets
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction

from core.announce import announce
from core.errors import Conflict

from .. import selectors
from ..models import AppMember
from .oauth_clients import grant_tokens_revoke


class SignupClosed(Conflict):
    """The app's owner has not opened sign-up."""


_APP_USERNAME_RE = re.compile(r"^[\w.@+-]{1,100}$")


def app_member_check(*, app, username: str, email: str = "", password: str | None = None, user=None) -> dict:
    """What is wrong with a would-be app user, per field (empty when nothing is)."""
    errors: dict[str, list[str]] = {}
    if not _APP_USERNAME_RE.match(username):
        errors["username"] = ["Use up to 100 letters, digits and . @ + - _ (no spaces)."]
    elif selectors.app_member_for_login(app=app, username=username) is not None:
        errors["username"] = [f"“{username}” is already a user of this app."]
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address, or leave it empty."]
    if password is not None:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    return errors


def members_changed(*, app, action: str, username: str = "") -> None:
    """Write, then send: once the change is committed, the open Users tab hears of it."""
    transaction.on_commit(partial(announce, slug=app.slug, kind="members.changed",
                                  data={"action": action, "username": username}), robust=True)


@transaction.atomic
def app_member_create(*, app, username: str, email: str = "", password: str | None = None,
                      source: str = AppMember.Source.ADDED) -> tuple[AppMember, str]:
    """A new app-only account for `app`. Without a password one is generated. Returns the member
    and the password (to show once)."""
    username, email = (username or "").strip(), (email or "").strip()
    generated = not password
    password = password or secrets.token_urlsafe(12)
    errors = app_member_check(app=app, username=username, email=email, password=None if generated else password)
    if errors:
        raise ValidationError(errors)
    User = get_user_model()
    internal = selectors.app_only_username(app=app, username=username)
    if User.objects.filter(username__iexact=internal).exists():
        raise ValidationError({"username": [f"“{username}” is already a user of this app."]})
    user = User.objects.create_user(username=internal, email=email, password=password)
    member = AppMember.objects.create(app=app, user=user, username=username, app_only=True, source=source)
    members_changed(app=app, action="member_created", username=username)
    return member, password


@transaction.atomic
def app_member_add_account(*, app, user, source: str = AppMember.Source.ACCOUNT) -> AppMember:
    """Let an MGX account log into `app` with its MGX name and password: the app's owner (made a
    member with the app, removable like any member) or an MGX admin the owner lets in. Not
    app-only: the account stays an MGX account, whose password its owner changes on their profile."""
    if source == AppMember.Source.ACCOUNT and not user.is_staff:
        raise ValidationError({"username": ["Only MGX admins can be let in with their MGX account; add anyone else "
                                            "as an app user."]})
    if AppMember.objects.filter(app=app, user=user).exists():
        raise ValidationError({"username": [f"{user.get_username()} may already log into this app."]})
    if AppMember.objects.filter(app=app, username__iexact=user.get_username()).exists():
        raise ValidationError({"username": [f"“{user.get_username()}” is already the name of a user of this app."]})
    member = AppMember.objects.create(app=app, user=user, username=user.get_username(), app_only=False, source=source)
    members_changed(app=app, action="member_created", username=member.username)
    return member


def app_member_signup(*, app, username: str, password: str, email: str = "") -> AppMember:
    """Self-service registration from the app's login form, when the owner allows it."""
    client = selectors.app_client_get(app=app)
    if client is None or not client.self_signup:
        raise SignupClosed(f"{app.name} does not accept new sign-ups.")
    if not password:
        raise ValidationError({"password": ["Choose a password."]})
    member, _ = app_member_create(app=app, username=username, email=email, password=password,
                                  source=AppMember.Source.SIGNUP)
    return member


@transaction.atomic
def app_member_set_active(*, member: AppMember, active: bool) -> AppMember:
    """Disable or enable an app user. Disabling ends their sessions in the app at once: their
    tokens for the app's client are revoked (already-issued JWTs die at their `exp`)."""
    member.is_active = bool(active)
    member.save(update_fields=["is_active"])
    if not member.is_active:
        client = selectors.app_client_get(app=member.app)
        if client is not None:
            grant_tokens_revoke(user=member.user, application=client.application)
    members_changed(app=member.app, action="member_activated" if member.is_active else "member_deactivated",
                    username=member.username)
    return member


@transaction.atomic
def app_member_password_reset(*, member: AppMember, password: str | None = None) -> str:
    """Set a new password (generated when not given) and end the user's sessions in the app."""
    if not member.app_only:
        raise ValidationError("This is an MGX account; its owner changes the password on their profile.")
    password = password or secrets.token_urlsafe(12)
    member.user.set_password(password)
    member.user.save(update_fields=["password"])
    client = selectors.app_client_get(app=member.app)
    if client is not None:
        grant_tokens_revoke(user=member.user, application=client.application)
    members_changed(app=member.app, action="password_reset", username=member.username)
    return password
