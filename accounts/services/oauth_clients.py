"""MGX's own OAuth client and each app's client (its users log in through MGX), and revoking
what a client handed out."""
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    Application,
    get_access_token_model,
    get_id_token_model,
    get_refresh_token_model,
    revoke_access_token,
)

from core.announce import announce

from .. import selectors
from ..models import OAuthClient


def grant_tokens_revoke(*, user=None, application=None) -> int:
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


def _client_changed(*, app, action: str) -> None:
    transaction.on_commit(partial(announce, slug=app.slug, kind="members.changed",
                                  data={"action": action, "username": ""}), robust=True)


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
    _client_changed(app=app, action="client_secret_rotated")
    return secret


def app_self_signup_set(*, app, enabled: bool) -> OAuthClient:
    client = app_client_register(app=app)
    client.self_signup = bool(enabled)
    client.save(update_fields=["self_signup"])
    _client_changed(app=app, action="self_signup_on" if client.self_signup else "self_signup_off")
    return client


def app_tokens_revoke(*, user, app) -> int:
    """End a person's sessions in one app: revoke what they hold from the app's client."""
    client = selectors.app_client_get(app=app)
    return grant_tokens_revoke(user=user, application=client.application) if client else 0
