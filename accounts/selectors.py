"""Reads: OAuth clients and their rules, app users, SSH keys."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from oauth2_provider.models import get_access_token_model
from oauth2_provider.models import AbstractApplication, Application

from core.errors import NotFound
from core.rows import RowQuery
from core.tokens import token_hash
from sessions_app.models import App

from .models import APP_ONLY_SEPARATOR, AppMember, OAuthClient, SSHKey

# DOT's Application holds one grant type; these are the OAuth grant_type values it implies.
GRANTS_OF_APPLICATION = {
    AbstractApplication.GRANT_AUTHORIZATION_CODE: {"authorization_code", "refresh_token"},
    AbstractApplication.GRANT_PASSWORD: {"password", "refresh_token"},
    AbstractApplication.GRANT_CLIENT_CREDENTIALS: {"client_credentials"},
    AbstractApplication.GRANT_OPENID_HYBRID: {"authorization_code", "refresh_token"},
}


def client_settings(*, application) -> OAuthClient | None:
    """MGX's rules for a DOT application (None for a client registered only through DOT)."""
    if application is None or not getattr(application, "pk", None):
        return None
    cached = getattr(application, "_mgx_policy", False)
    if cached is not False:
        return cached
    policy = OAuthClient.objects.select_related("app").filter(application=application).first()
    application._mgx_policy = policy
    return policy


def client_grant_types(*, application) -> set[str]:
    grants = set(GRANTS_OF_APPLICATION.get(application.authorization_grant_type, set()))
    policy = client_settings(application=application)
    if policy is not None:
        grants |= set(policy.extra_grant_types.split())
    return grants


def client_requires_pkce(*, client_id: str) -> bool:
    """PKCE is mandatory for public clients (they have no secret to prove who they are) and
    optional for confidential ones. Only S256 is accepted either way (settings)."""
    client_type = Application.objects.filter(client_id=client_id).values_list("client_type", flat=True).first()
    return client_type != Application.CLIENT_CONFIDENTIAL


def application_by_client_id(*, client_id: str):
    """The OAuth application a `client_id` names, or None."""
    return Application.objects.filter(client_id=client_id).first() if client_id else None


def access_token_by_value(*, value: str):
    """The stored access token a bearer value is (MGX keeps only its hash), or None."""
    return (get_access_token_model().objects.select_related("user", "application")
            .filter(token_checksum=token_hash(value)).first())


def app_by_slug_or_404(*, slug: str) -> App:
    """An app by its address for its public login pages (anyone may see them); 404 without one."""
    app = App.objects.filter(slug=slug).first()
    if app is None:
        raise NotFound("No such app.")
    return app


def client_app(*, application) -> App | None:
    """The app whose users this client serves, or None for MGX's own and external clients."""
    policy = client_settings(application=application)
    if policy is None or policy.kind != OAuthClient.Kind.APP:
        return None
    return policy.app


def is_app_only(*, user) -> bool:
    """App-only accounts exist for one app and never log into MGX itself."""
    if user is None or not getattr(user, "pk", None):
        return False
    # The separator cannot occur in an MGX user name (Django's username rules), so the name
    # alone already marks an app-only account; the membership says the same.
    if APP_ONLY_SEPARATOR in user.get_username():
        return True
    return AppMember.objects.filter(user=user, app_only=True).exists()


def app_member_for_login(*, app: App, username: str) -> AppMember | None:
    return (
        AppMember.objects.select_related("user", "app")
        .filter(app=app, username__iexact=(username or "").strip())
        .first()
    )


def login_name_for(*, user, client) -> str:
    """The name a person logs into `client` with: inside an app, their app-visible name."""
    app = client_app(application=client) if client is not None else None
    if app is not None:
        name = AppMember.objects.filter(app=app, user=user).values_list("username", flat=True).first()
        if name:
            return name
    return user.get_username()


def user_may_use_client(*, user, application) -> bool:
    """Who may hold tokens of a client: an app's active members for an app client; active MGX
    users (not app-only accounts) for MGX's own and external clients."""
    if user is None or not user.is_active:
        return False
    app = client_app(application=application)
    if app is not None:
        return AppMember.objects.filter(app=app, user=user, is_active=True).exists()
    return not is_app_only(user=user)


def app_for_manager(*, user, slug: str) -> App:
    """The app whose users `user` may manage: its owner or an MGX superuser. NotFound otherwise,
    so other people cannot even learn that the slug exists."""
    app = App.objects.select_related("owner").filter(slug=slug).first()
    if app is None or not app.can_be_used_by(user) or is_app_only(user=user):
        raise NotFound("No such app.")
    return app


def mgx_accounts_to_let_in(*, app: App) -> list:
    """The MGX accounts that may be let into the app with their MGX login and are not in yet: the
    owner (after they removed themselves) and MGX admins."""
    User = get_user_model()
    inside = AppMember.objects.filter(app=app).values_list("user_id", flat=True)
    candidates = User.objects.filter(Q(pk=app.owner_id) | Q(is_staff=True), is_active=True).exclude(pk__in=inside)
    return [u for u in candidates.order_by("username") if not is_app_only(user=u)]


def mgx_account_to_let_in(*, app: App, username: str):
    """That account, if it is one `mgx_accounts_to_let_in` lists; else None."""
    name = (username or "").strip()
    return next((u for u in mgx_accounts_to_let_in(app=app) if u.get_username() == name), None)


def app_members(*, app: App):
    return AppMember.objects.filter(app=app).select_related("user").order_by(
        "-is_active", "username"
    )


def app_member_get(*, app: App, member_id: int) -> AppMember:
    member = AppMember.objects.select_related("user").filter(app=app, pk=member_id).first()
    if member is None:
        raise NotFound("No such user in this app.")
    return member


def app_client_get(*, app: App) -> OAuthClient | None:
    return OAuthClient.objects.select_related("application").filter(app=app).first()


def app_callback_urls(*, app: App) -> list[str]:
    """Where an app's login returns to: `/apps/<slug>/dev/auth/callback` and
    `/apps/<slug>/prod/auth/callback` on the apps origin, MGX_APPS_URL (the app templates serve
    that path)."""
    base = settings.MGX_APPS_URL
    return [f"{base}/apps/{app.slug}/{stage}/auth/callback" for stage in ("dev", "prod")]


def app_post_logout_urls(*, app: App) -> list[str]:
    base = settings.MGX_APPS_URL
    return [f"{base}/apps/{app.slug}/{stage}/" for stage in ("dev", "prod")]


def app_oauth_env(*, app: App, internal_url: str | None = None) -> dict[str, str]:
    """The environment an app's containers get to log their users in with MGX.

    `internal_url` is how the container reaches MGX (e.g. http://host.docker.internal:8000);
    tokens still carry the public URL as `iss`, so MGX_OAUTH_ISSUER stays the public one.
    """
    client = app_client_get(app=app)
    if client is None:
        raise LookupError(f"app {app.slug} has no OAuth client yet; call app_client_register first")
    reach = (internal_url or settings.MGX_PUBLIC_URL).rstrip("/")
    return {
        "MGX_OAUTH_CLIENT_ID": client.application.client_id,
        "MGX_OAUTH_CLIENT_SECRET": client.application.client_secret,
        "MGX_OAUTH_ISSUER": settings.MGX_OAUTH_ISSUER,
        "MGX_OAUTH_AUTHORIZE_URL": f"{settings.MGX_PUBLIC_URL}/oauth2/authorize/",
        "MGX_OAUTH_TOKEN_URL": f"{reach}/oauth2/token/",
        "MGX_OAUTH_JWKS_URL": f"{reach}/oauth2/.well-known/jwks.json",
        "MGX_OAUTH_USERINFO_URL": f"{reach}/oauth2/userinfo/",
        "MGX_OAUTH_REVOKE_URL": f"{reach}/oauth2/revoke_token/",
        "MGX_OAUTH_SIGNUP_URL": f"{reach}/oauth2/signup/",
        "MGX_OAUTH_LOGOUT_URL": f"{settings.MGX_PUBLIC_URL}/oauth2/logout/",
    }


def external_clients_for(*, user):
    """The external OAuth clients `user` registered (their "Your OAuth clients" page)."""
    return (OAuthClient.objects.select_related("application")
            .filter(kind=OAuthClient.Kind.EXTERNAL, application__user=user).order_by("-created_at"))


def external_client_for_owner(*, user, client_id: str) -> OAuthClient:
    """One of `user`'s external clients; NotFound for anyone else's (admins use the Django admin),
    so nobody learns that another person's client exists."""
    client = external_clients_for(user=user).filter(application__client_id=client_id).first()
    if client is None:
        raise NotFound("No such client.")
    return client


def client_grants_shown(*, client: OAuthClient) -> list[str]:
    """The grant types a client may use, in the words operators type, in a fixed order."""
    granted = client_grant_types(application=client.application)
    order = ("authorization_code", "password", "client_credentials", "refresh_token")
    return [g.replace("_", "-") for g in order if g in granted]


def ssh_keys_for(*, user):
    return SSHKey.objects.filter(user=user).order_by("created_at", "id")


def app_only_username(*, app: App, username: str) -> str:
    return f"{app.slug}{APP_ONLY_SEPARATOR}{username}"


# ---------------------------------------------------------------- the token behind a login session

# Where a login session (Django's, in the browser) keeps the access token it is bound to.
LOGIN_TOKEN_KEY = "_mgx_oauth"


@dataclass(frozen=True)
class LoginToken:
    """unbound: a login session made without the login page (nothing to check); live; expired
    (MGX's pages refresh it); gone: revoked or never this user's."""

    state: Literal["unbound", "live", "expired", "gone"]
    token_id: int | None = None
    refresh_token: str = ""


@cache
def _login_token_row() -> RowQuery:
    # Every request with a login cookie runs it: compiled once (core.rows).
    return RowQuery(get_access_token_model(), "{id} = %s AND {user} = %s", fields=("id", "expires"))


def login_token(*, session, user_id) -> LoginToken:
    """The one check of the token behind a login session, for MGX's pages (which refresh an
    expired one) and the gateway's dev previews (which send the person to log in again)."""
    binding = session.get(LOGIN_TOKEN_KEY)
    if not binding:
        return LoginToken("unbound")
    token_id = binding.get("access_token_id")
    token = _login_token_row().get(token_id, user_id) if token_id is not None else None
    if token is None:
        state = "gone"
    else:
        state = "live" if token.expires > timezone.now() else "expired"
    return LoginToken(state, token_id, binding.get("refresh_token", ""))


# ---------------------------------------------------------------- who is logged into an app

# Where a login session remembers the apps this browser is logged into, apart from Django's own
# login (an app user never becomes logged into MGX itself).
APP_LOGINS_KEY = "_mgx_app_logins"


def app_login_user(*, session, app):
    """The person logged into `app` in this browser, if they still may use it (not disabled,
    password not changed since)."""
    entry = (session.get(APP_LOGINS_KEY) or {}).get(str(app.pk))
    if not entry:
        return None
    member = AppMember.objects.select_related("user").filter(app=app, user_id=entry.get("user"), is_active=True).first()
    if member is None or not member.user.is_active:
        return None
    if not constant_time_compare(entry.get("hash", ""), member.user.get_session_auth_hash()):
        return None
    return member.user
