import re
import secrets

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    Application,
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    revoke_access_token,
)

from . import selectors
from .models import APP_ONLY_SEPARATOR, AppMember, OAuthClient, SSHKey
from .provider import checksum, revoke_request, token_request
from .ssh import SSHKeyError, parse_public_key
from .throttle import LoginLocked, Subject, throttle_check, throttle_fail, throttle_succeed  # noqa: F401


def admin_ensure(*, username: str = "admin", email: str = "admin@localhost") -> str | None:
    """Create the first admin when no superuser exists yet.

    Returns the generated password when a user was created (the only time it is ever shown),
    None when a superuser already existed.
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email=email, password=password)
    return password


def admin_password_reset(*, username: str = "admin") -> str:
    User = get_user_model()
    user = User.objects.get(username=username, is_superuser=True)
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password


# ---------------------------------------------------------------- errors views translate


class LoginFailed(Exception):
    """The login was refused; the message is what the person should read."""


class SignupClosed(Exception):
    pass


WRONG_CREDENTIALS = "The user name or password is not correct."
SESSION_KEY = "_mgx_oauth"
FIRST_PARTY_SCOPE = "read write"


# ---------------------------------------------------------------- OAuth clients


def _grant_tokens_revoke(*, user=None, application=None) -> int:
    """Revoke access and refresh tokens (and ID tokens) of a user, a client, or both."""
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    filters = {}
    if user is not None:
        filters["user"] = user
    if application is not None:
        filters["application"] = application
    if not filters:
        raise ValueError("refusing to revoke every token")
    count = 0
    for token in AccessToken.objects.filter(**filters):
        revoke_access_token(token)
        count += 1
    for refresh in RefreshToken.objects.filter(revoked__isnull=True, **filters):
        refresh.revoke()
    get_id_token_model().objects.filter(**filters).delete()
    return count


@transaction.atomic
def first_party_client_ensure() -> OAuthClient:
    """MGX's own public client: the login page and API scripts get tokens with it."""
    client_id = settings.MGX_FIRST_PARTY_CLIENT_ID
    application = Application.objects.filter(client_id=client_id).first()
    if application is None:
        application = Application.objects.create(
            client_id=client_id,
            name="MGX",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_PASSWORD,
            client_secret="",
            hash_client_secret=False,
            skip_authorization=True,
            algorithm=Application.RS256_ALGORITHM,
        )
    policy, _ = OAuthClient.objects.get_or_create(
        application=application, defaults={"kind": OAuthClient.Kind.FIRST_PARTY}
    )
    return policy


@transaction.atomic
def app_client_register(*, app) -> OAuthClient:
    """Make sure `app` has its confidential OAuth2 client and return it.

    Its redirect URIs are exactly `<MGX_APPS_URL>/apps/<slug>/dev/auth/callback` and
    `.../prod/auth/callback` (no wildcards), its post-logout URIs the two app roots. It may use
    the authorization code grant (PKCE optional, S256 only), the password grant (the app's own
    login form), refresh tokens and client credentials — and only for the app's own members.
    The id and secret reach the app's containers through `selectors.app_oauth_env`; the secret
    is kept readable for that reason (`hash_client_secret=False`), and
    `app_client_secret_rotate` replaces it. Calling this again only refreshes the URIs (after a
    change of MGX_APPS_URL); `selectors.app_oauth_env` does so each time it hands the client to a
    container, so clients made before the apps moved to their own origin follow.
    """
    redirect_uris = " ".join(selectors.app_callback_urls(app=app))
    logout_uris = " ".join(selectors.app_post_logout_urls(app=app))
    existing = selectors.app_client_get(app=app)
    if existing is not None:
        application = existing.application
        if (application.redirect_uris, application.post_logout_redirect_uris) != (redirect_uris, logout_uris):
            application.redirect_uris = redirect_uris
            application.post_logout_redirect_uris = logout_uris
            application.save(update_fields=["redirect_uris", "post_logout_redirect_uris", "updated"])
        return existing
    application = Application(
        name=f"{app.name} ({app.slug})",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=logout_uris,
        hash_client_secret=False,
        client_secret=generate_client_secret(),
        # The app's users log in on MGX's login page for that app, not on a consent screen:
        # the app and its login belong to the same owner.
        skip_authorization=True,
        algorithm=Application.RS256_ALGORITHM,
    )
    application.full_clean()
    application.save()
    return OAuthClient.objects.create(
        application=application,
        kind=OAuthClient.Kind.APP,
        app=app,
        extra_grant_types="password client_credentials",
    )


@transaction.atomic
def app_client_secret_rotate(*, app) -> str:
    """A new client secret for the app; the old one stops working at once. Tokens already
    issued stay valid (they are not tied to the secret). Returns the new secret."""
    client = app_client_register(app=app)
    secret = generate_client_secret()
    application = client.application
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_rotated_at"])
    return secret


def app_self_signup_set(*, app, enabled: bool) -> OAuthClient:
    client = app_client_register(app=app)
    client.self_signup = bool(enabled)
    client.save(update_fields=["self_signup"])
    return client


def app_tokens_revoke(*, user, app) -> int:
    """End a person's sessions in one app: revoke what they hold from the app's client."""
    client = selectors.app_client_get(app=app)
    return _grant_tokens_revoke(user=user, application=client.application) if client else 0


# ---------------------------------------------------------------- external clients
#
# An app outside MGX that logs MGX users in (or calls MGX's API for them). Such a client serves
# MGX users like MGX's own client does, so its users' tokens work on MGX's API; the person
# consents on MGX's authorization page. The secret is stored hashed: it is shown once.

# The grant names operators type (`--grant client-credentials`) and the OAuth values they mean.
EXTERNAL_GRANTS = {
    "authorization-code": "authorization_code",
    "password": "password",
    "client-credentials": "client_credentials",
    "refresh-token": "refresh_token",
}
# DOT keeps one grant per application; the first of these that was asked for is it, the others
# go to OAuthClient.extra_grant_types. Authorization code and password imply refresh tokens.
_PRIMARY_GRANT = (
    ("authorization_code", Application.GRANT_AUTHORIZATION_CODE),
    ("password", Application.GRANT_PASSWORD),
    ("client_credentials", Application.GRANT_CLIENT_CREDENTIALS),
)


def redirect_uri_check(uri: str) -> str | None:
    """What is wrong with a redirect URI, or None: absolute http(s) with a host, no fragment."""
    from urllib.parse import urlsplit

    if not uri:
        return "A redirect URI cannot be empty."
    if any(c.isspace() for c in uri):
        return f"“{uri}” contains a space; give one URI at a time."
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return f"“{uri}” is not a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"“{uri}” must be an absolute http:// or https:// URL, e.g. https://app.example.org/callback."
    if "#" in uri:
        return f"“{uri}” has a fragment (#…); redirect URIs may not have one."
    return None


def external_client_check(*, name: str, redirect_uris: list[str], grants: list[str], confidential: bool) -> dict:
    """What is wrong with a would-be external client, per field (empty when nothing is)."""
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the client a name (people see it when they are asked to allow it)."]
    elif len(name) > 255:
        errors["name"] = ["Keep the name under 255 characters."]
    unknown = [g for g in grants if g not in EXTERNAL_GRANTS]
    if unknown:
        errors["grants"] = [f"Unknown grant “{unknown[0]}”; choose from {', '.join(EXTERNAL_GRANTS)}."]
    elif not grants:
        errors["grants"] = ["Choose at least one grant type."]
    elif grants == ["refresh-token"]:
        errors["grants"] = ["Refresh tokens come with the authorization-code or password grant; choose one of those too."]
    elif "client-credentials" in grants and not confidential:
        errors["grants"] = ["Client credentials need a confidential client: a public one has no secret to prove who it is."]
    uri_errors = [problem for problem in map(redirect_uri_check, redirect_uris) if problem]
    if uri_errors:
        errors["redirect_uris"] = uri_errors
    elif "authorization-code" in grants and not redirect_uris:
        errors["redirect_uris"] = ["The authorization-code grant needs at least one redirect URI."]
    return errors


@transaction.atomic
def external_client_register(*, name: str, redirect_uris: list[str], grants: list[str], confidential: bool,
                             owner=None) -> tuple[OAuthClient, str]:
    """Register an OAuth2 client for an app outside MGX. Returns the client and its secret in
    plain text (empty for a public client): the only time it exists, since DOT stores a hash.

    Raises ValidationError per field (`name`, `redirect_uris`, `grants`, `owner`); nothing is
    made then. Public clients must use PKCE (S256) for the authorization code; confidential ones
    may. `owner` (an MGX user) manages the client on "Your OAuth clients"; without one only the
    Django admin does.
    """
    name = (name or "").strip()
    redirect_uris = list(dict.fromkeys(u.strip() for u in redirect_uris if u and u.strip()))
    grants = list(dict.fromkeys((g or "").strip() for g in grants if g and g.strip()))
    errors = external_client_check(name=name, redirect_uris=redirect_uris, grants=grants, confidential=confidential)
    if owner is not None and (not owner.is_active or selectors.is_app_only(user=owner)):
        errors["owner"] = [f"“{owner.get_username()}” is not an active MGX user."]
    if errors:
        raise ValidationError(errors)
    wanted = {EXTERNAL_GRANTS[g] for g in grants}
    primary = next(g for v, g in _PRIMARY_GRANT if v in wanted)
    secret = generate_client_secret() if confidential else ""
    application = Application(
        name=name,
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=primary,
        redirect_uris=" ".join(redirect_uris),
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=False,  # a stranger's app: the person allows it on MGX's page
        algorithm=Application.RS256_ALGORITHM,
    )
    try:
        application.full_clean()
    except ValidationError as exc:
        raise ValidationError({"redirect_uris" if k == "redirect_uris" else "name": v
                               for k, v in exc.message_dict.items()}) from None
    application.save()
    extra = sorted(wanted - selectors.GRANTS_OF_APPLICATION[primary])
    client = OAuthClient.objects.create(application=application, kind=OAuthClient.Kind.EXTERNAL,
                                        extra_grant_types=" ".join(extra))
    return client, secret


@transaction.atomic
def external_client_secret_rotate(*, client: OAuthClient) -> str:
    """A new secret for a confidential external client; the old one stops working at once
    (tokens already issued stay valid). Returns the new secret, to show once."""
    application = client.application
    if client.kind != OAuthClient.Kind.EXTERNAL:
        raise ValidationError("Only external clients are rotated here.")
    if application.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationError("A public client has no secret to rotate.")
    secret = generate_client_secret()
    application.client_secret = secret
    application.hash_client_secret = True
    application.save(update_fields=["client_secret", "hash_client_secret", "updated"])
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_rotated_at"])
    return secret


@transaction.atomic
def external_client_delete(*, client: OAuthClient) -> None:
    """Delete an external client; every token it was given stops working on MGX at once."""
    if client.kind != OAuthClient.Kind.EXTERNAL:
        raise ValidationError("Only external clients are deleted here.")
    application = client.application
    _grant_tokens_revoke(application=application)
    application.delete()  # cascades: the OAuthClient row, grants, what tokens remain


# ---------------------------------------------------------------- app users

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
    return member, password


@transaction.atomic
def app_member_add_mgx_user(*, app, user) -> AppMember:
    """Let an existing MGX user log into `app` with their MGX name and password."""
    if selectors.is_app_only(user=user):
        raise ValidationError("App-only accounts belong to one app.")
    member, _ = AppMember.objects.get_or_create(
        app=app, user=user, defaults={"username": user.get_username(), "app_only": False}
    )
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
            _grant_tokens_revoke(user=member.user, application=client.application)
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
        _grant_tokens_revoke(user=member.user, application=client.application)
    return password


# ---------------------------------------------------------------- credentials (every login)


def credentials_check(*, application, username: str, password: str, address: str):
    """The one place a password is checked, for every client and the app login pages.

    Returns the user or None. Raises LoginLocked while the name or the address is locked out.
    For an app's client the name is looked up among that app's members only, so a user of app
    A does not exist as far as app B is concerned; for MGX's own and external clients app-only
    accounts are refused.
    """
    username = (username or "").strip()
    app = selectors.client_app(application=application) if application is not None else None
    subject = Subject(user_key=selectors.app_only_username(app=app, username=username) if app else username,
                      address=address or "")
    throttle_check(subject=subject)
    user = None
    if app is not None:
        member = selectors.app_member_for_login(app=app, username=username)
        if member is None:
            make_password(password)  # same time spent as for a real name
        elif member.is_active and member.user.is_active and member.user.check_password(password):
            user = member.user
            AppMember.objects.filter(pk=member.pk).update(last_login_at=timezone.now())
    elif username and APP_ONLY_SEPARATOR not in username:
        candidate = authenticate(None, username=username, password=password)
        if candidate is not None and candidate.is_active and not selectors.is_app_only(user=candidate):
            user = candidate
    if user is None:
        throttle_fail(subject=subject)
        return None
    throttle_succeed(subject=subject)
    return user


# ---------------------------------------------------------------- MGX's own web session


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def session_login(*, request, username: str, password: str):
    """Log into MGX through the provider: a password grant for the first-party client, then
    the Django session is bound to that token (middleware ends the session when the token is
    revoked, and refreshes it when it expires). Raises LoginFailed with what to show."""
    client = first_party_client_ensure()
    status, body = token_request(
        {"grant_type": "password", "client_id": client.client_id, "username": username or "",
         "password": password or "", "scope": FIRST_PARTY_SCOPE},
        address=_client_address(request),
    )
    if status != 200:
        raise LoginFailed(body.get("error_description") or WRONG_CREDENTIALS)
    token = get_access_token_model().objects.select_related("user").get(token_checksum=checksum(body["access_token"]))
    auth_login(request, token.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = {"access_token_id": token.pk, "refresh_token": body.get("refresh_token", "")}
    return token.user


def session_token_check(*, request) -> bool:
    """Is the token behind this session still good? Refreshes it (with rotation) once it has
    expired. False means it was revoked or cannot be renewed: the session must end.

    Sessions made without the login page (Django's test client `force_login`) carry no token
    and are left alone."""
    binding = request.session.get(SESSION_KEY)
    if not binding:
        return True
    token = (
        get_access_token_model().objects.filter(pk=binding.get("access_token_id"), user_id=request.user.pk)
        .only("expires").first()
    )
    if token is None:
        return False
    if token.expires > timezone.now():
        return True
    status, body = token_request(
        {"grant_type": "refresh_token", "client_id": settings.MGX_FIRST_PARTY_CLIENT_ID,
         "refresh_token": binding.get("refresh_token", "")},
        address=_client_address(request),
    )
    if status != 200:
        return False
    fresh = get_access_token_model().objects.get(token_checksum=checksum(body["access_token"]))
    request.session[SESSION_KEY] = {"access_token_id": fresh.pk, "refresh_token": body.get("refresh_token", "")}
    return True


def session_logout(*, request) -> None:
    """Revoke the session's token (access and refresh) at the provider, then end the session."""
    binding = request.session.get(SESSION_KEY) or {}
    if binding.get("refresh_token"):
        revoke_request(
            {"client_id": settings.MGX_FIRST_PARTY_CLIENT_ID, "token": binding["refresh_token"],
             "token_type_hint": "refresh_token"},
            address=_client_address(request),
        )
    token = get_access_token_model().objects.filter(pk=binding.get("access_token_id")).first()
    if token is not None:
        revoke_access_token(token)
    auth_logout(request)


def user_password_change(*, request, user, new_password: str) -> int:
    """Change an MGX user's password; every token they hold elsewhere (other browsers, API
    scripts, apps they are a member of) is revoked, this session keeps working."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    keep = (request.session.get(SESSION_KEY) or {}).get("access_token_id")
    AccessToken = get_access_token_model()
    count = 0
    for token in AccessToken.objects.filter(user=user).exclude(pk=keep):
        revoke_access_token(token)
        count += 1
    update_session_auth_hash(request, user)
    return count


# ---------------------------------------------------------------- SSH keys


def ssh_key_add(*, user, public_key: str, title: str = "") -> SSHKey:
    try:
        parsed = parse_public_key(public_key)
    except SSHKeyError as exc:
        raise ValidationError({"public_key": [str(exc)]}) from None
    title = (title or "").strip() or parsed.comment or parsed.key_type
    if SSHKey.objects.filter(fingerprint=parsed.fingerprint).exists():
        mine = SSHKey.objects.filter(fingerprint=parsed.fingerprint, user=user).exists()
        raise ValidationError({"public_key": [
            "You have already added this key." if mine else "This key is already in use by another account; each key can belong to one account only."
        ]})
    return SSHKey.objects.create(
        user=user,
        title=title[:100],
        key_type=parsed.key_type,
        public_key=parsed.public_key,
        fingerprint=parsed.fingerprint,
        bits=parsed.bits,
    )


def ssh_key_delete(*, user, key_id: int) -> SSHKey:
    key = SSHKey.objects.filter(user=user, pk=key_id).first()
    if key is None:
        raise Http404("No such key.")
    key.delete()
    return key


# ---------------------------------------------------------------- an app's login on MGX
#
# An app's users log in on MGX's login page for that app (authorization code flow). That
# login is remembered in the browser's session per app, apart from Django's own login, so an
# app user never becomes logged into MGX itself and one browser can be in several apps.

APP_SESSION_KEY = "_mgx_app_logins"


def app_session_login(*, request, member: AppMember) -> None:
    request.session.cycle_key()  # a fresh session id after authentication (session fixation)
    logins = dict(request.session.get(APP_SESSION_KEY) or {})
    logins[str(member.app_id)] = {"user": member.user_id, "hash": member.user.get_session_auth_hash()}
    request.session[APP_SESSION_KEY] = logins


def app_session_user(*, request, app):
    """The person logged into `app` in this browser, if they still may use it (not disabled,
    password not changed since)."""
    entry = (request.session.get(APP_SESSION_KEY) or {}).get(str(app.pk))
    if not entry:
        return None
    member = AppMember.objects.select_related("user").filter(app=app, user_id=entry.get("user"), is_active=True).first()
    if member is None or not member.user.is_active:
        return None
    if not constant_time_compare(entry.get("hash", ""), member.user.get_session_auth_hash()):
        return None
    return member.user


def app_session_logout(*, request, app, application=None) -> None:
    """End the browser's login to `app` and revoke that person's tokens for the app's client."""
    user = app_session_user(request=request, app=app)
    logins = dict(request.session.get(APP_SESSION_KEY) or {})
    logins.pop(str(app.pk), None)
    request.session[APP_SESSION_KEY] = logins
    if user is not None and application is not None:
        _grant_tokens_revoke(user=user, application=application)


def app_login(*, request, app, username: str, password: str) -> AppMember:
    """Log into an app on its MGX login page. Raises LoginFailed with what to show."""
    client = app_client_register(app=app)
    try:
        user = credentials_check(application=client.application, username=username, password=password,
                                 address=_client_address(request))
    except LoginLocked as exc:
        raise LoginFailed(str(exc)) from None
    if user is None:
        raise LoginFailed(WRONG_CREDENTIALS)
    member = AppMember.objects.select_related("user", "app").get(app=app, user=user)
    app_session_login(request=request, member=member)
    return member
