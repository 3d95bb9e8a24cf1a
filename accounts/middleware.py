from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser

from .keys import KeyringWatcher, keyring_use
from .services import login_token_check


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
            on_change=keyring_use,
        )

    def __call__(self, request):
        self.keys.check()
        if request.user.is_authenticated and not login_token_check(request=request):
            logout(request)
            request.user = AnonymousUser()
        return self.get_response(request)
