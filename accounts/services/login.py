"""Logging into MGX itself. The login session (Django's, in the browser) is bound to an access
token of MGX's first-party client: revoking the token ends the login session, and an expired
token is refreshed. ("Session" alone means an MGX session, i.e. an app; this module only
speaks of login sessions.)"""
from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from oauth2_provider.models import get_access_token_model, revoke_access_token

from core.errors import Invalid
from core.tokens import token_hash

from ..backends import PATH as LOGIN_SESSION_BACKEND
from ..provider import revoke_request, token_request
from .. import selectors
from ..selectors import LOGIN_TOKEN_KEY
from .oauth_clients import first_party_client_ensure


class LoginFailed(Invalid):
    """The login was refused; the message is what the person should read."""


WRONG_CREDENTIALS = "The user name or password is not correct."
FIRST_PARTY_SCOPE = "read write"


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def mgx_login(*, request, username: str, password: str):
    """Log into MGX through the provider: a password grant for the first-party client, then
    the login session is bound to that token (middleware ends the login session when the token
    is revoked, and refreshes it when it expires). Raises LoginFailed with what to show."""
    client = first_party_client_ensure()
    status, body = token_request(
        {"grant_type": "password", "client_id": client.client_id, "username": username or "",
         "password": password or "", "scope": FIRST_PARTY_SCOPE},
        address=client_address(request),
    )
    if status != 200:
        raise LoginFailed(body.get("error_description") or WRONG_CREDENTIALS)
    token = get_access_token_model().objects.select_related("user").get(token_checksum=token_hash(body["access_token"]))
    auth_login(request, token.user, backend=LOGIN_SESSION_BACKEND)
    request.session[LOGIN_TOKEN_KEY] = {"access_token_id": token.pk, "refresh_token": body.get("refresh_token", "")}
    return token.user


def login_token_check(*, request) -> bool:
    """Is the token behind this login session still good? Refreshes it (with rotation) once it
    has expired. False means it was revoked or cannot be renewed: the login session must end.

    Login sessions made without the login page (Django's test client `force_login`) carry no
    token and are left alone."""
    bound = selectors.login_token(session=request.session, user_id=request.user.pk)
    if bound.state in ("unbound", "live"):
        return True
    if bound.state == "gone":
        return False
    status, body = token_request(
        {"grant_type": "refresh_token", "client_id": settings.MGX_FIRST_PARTY_CLIENT_ID,
         "refresh_token": bound.refresh_token},
        address=client_address(request),
    )
    if status != 200:
        return False
    fresh = get_access_token_model().objects.get(token_checksum=token_hash(body["access_token"]))
    request.session[LOGIN_TOKEN_KEY] = {"access_token_id": fresh.pk, "refresh_token": body.get("refresh_token", "")}
    return True


def mgx_logout(*, request) -> None:
    """Revoke the login session's token (access and refresh) at the provider, then end the login session."""
    binding = request.session.get(LOGIN_TOKEN_KEY) or {}
    if binding.get("refresh_token"):
        revoke_request(
            {"client_id": settings.MGX_FIRST_PARTY_CLIENT_ID, "token": binding["refresh_token"],
             "token_type_hint": "refresh_token"},
            address=client_address(request),
        )
    token = get_access_token_model().objects.filter(pk=binding.get("access_token_id")).first()
    if token is not None:
        revoke_access_token(token)
    auth_logout(request)


def user_password_change(*, request, user, new_password: str) -> int:
    """Change an MGX user's password; every token they hold elsewhere (other browsers, API
    scripts, apps they are a member of) is revoked, this login session keeps working."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    keep = (request.session.get(LOGIN_TOKEN_KEY) or {}).get("access_token_id")
    AccessToken = get_access_token_model()
    count = 0
    for token in AccessToken.objects.filter(user=user).exclude(pk=keep):
        revoke_access_token(token)
        count += 1
    update_session_auth_hash(request, user)
    return count
