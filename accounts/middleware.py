from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from oauth2_provider.settings import oauth2_settings

from .keys import KeyringWatcher
from .services import login_token_check


def _use_keyring(ring) -> None:
    # DOT reads these per request (JWKS, ID-token signing); the JWT generator and verifier read
    # them through oauth2_settings as well, so one update switches every path at once.
    settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"] = ring.active_pem
    settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEYS_INACTIVE"] = ring.inactive_pems
    settings.MGX_OIDC_KEYRING = ring
    oauth2_settings.reload()


class LoginTokenMiddleware:
    """Two things every request needs from the provider:

    - the signing keys in use, re-read when `manage.py rotate_signing_key` changed them;
    - the token behind a login session: a login session whose token was revoked (logout
      elsewhere, an admin, RP-initiated logout) ends here; an expired one is refreshed.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.keys = KeyringWatcher(
            ring=settings.MGX_OIDC_KEYRING,
            retention_seconds=settings.MGX_OIDC_KEY_RETENTION_SECONDS,
            on_change=_use_keyring,
        )

    def __call__(self, request):
        self.keys.check()
        if request.user.is_authenticated and not login_token_check(request=request):
            logout(request)
            request.user = AnonymousUser()
        return self.get_response(request)
