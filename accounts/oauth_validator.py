"""MGX's rules on top of DOT's validator: which client may use which grant, who may hold a
client's tokens (an app's client serves that app's members only), throttled password checks,
and the claims MGX adds to ID tokens and userinfo."""
import json

from jwcrypto import jwk, jws
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from . import selectors
from .services import WRONG_CREDENTIALS, LoginLocked, credentials_check


def _address(request) -> str:
    headers = getattr(request, "headers", None) or {}
    return headers.get("REMOTE_ADDR", "") or ""


class MgxOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "app": "openid"}

    # ------------------------------------------------------------ grants

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        # Replaces DOT's one-grant-per-application rule with MGX's per-client set; the password
        # grant is deliberate here (the apps' own login forms), so no RFC 9700 nag per login.
        return grant_type in selectors.client_grant_types(application=request.client)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        return response_type == "code" and "authorization_code" in selectors.client_grant_types(application=client)

    # ------------------------------------------------------------ who may hold tokens

    def validate_user(self, username, password, client, request, *args, **kwargs):
        try:
            user = credentials_check(application=client, username=username, password=password, address=_address(request))
        except LoginLocked as exc:
            raise errors.InvalidGrantError(description=str(exc), request=request) from None
        if user is None:
            raise errors.InvalidGrantError(description=WRONG_CREDENTIALS, request=request)
        request.user = user
        return True

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        return selectors.user_may_use_client(user=request.user, application=client)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        # A member disabled after the token was issued cannot renew it.
        return selectors.user_may_use_client(user=request.user, application=client)

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if request.user is None:
            return True
        return selectors.user_may_use_client(user=request.user, application=request.client)

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        if not selectors.user_may_use_client(user=request.user, application=request.client):
            raise errors.AccessDeniedError(description="This account may not use this application.", request=request)
        return super().save_authorization_code(client_id, code, request, *args, **kwargs)

    # ------------------------------------------------------------ claims

    def get_additional_claims(self, request):
        user = request.user
        claims = {
            "preferred_username": selectors.login_name_for(user=user, client=request.client),
            "email": user.email,
            "email_verified": False,
        }
        name = user.get_full_name()
        if name:
            claims["name"] = name
        app = selectors.client_app(application=request.client)
        if app is not None:
            claims["app"] = app.slug
        return claims

    def _get_key_for_token(self, token):
        """DOT picks the active key only; after a rotation, ID tokens signed with the previous
        key (RP-initiated logout's id_token_hint) must still verify, so pick by `kid`."""
        unverified = jws.JWS()
        unverified.deserialize(token)
        kid = unverified.jose_header.get("kid")
        claims = json.loads(unverified.objects["payload"].decode("utf-8"))
        if "aud" not in claims or self._get_client_by_audience(claims["aud"]) is None:
            return None
        for pem in [oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]:
            key = jwk.JWK.from_pem(pem.encode())
            if kid is None or key.thumbprint() == kid:
                return key
        return None
