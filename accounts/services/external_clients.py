"""External OAuth clients: an app outside MGX that logs MGX users in (or calls MGX's API for
them). Such a client serves MGX users like MGX's own client does, so its users' tokens work on
MGX's API; the person consents on MGX's authorization page. The secret is stored hashed: it is
shown once."""
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from .. import selectors
from ..models import OAuthClient
from .oauth_clients import grant_tokens_revoke

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
    grant_tokens_revoke(application=application)
    application.delete()  # cascades: the OAuthClient row, grants, what tokens remain
