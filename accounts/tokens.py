"""Access tokens as RS256 JWTs (RFC 9068 profile), and checking them for MGX's own API.

DOT stores whatever string the generator returns (only its SHA-256 at rest), so the signed JWT
*is* the token: revoking it deletes that row. Apps verify tokens locally with the JWKS and
cannot see a revocation before `exp`, which is why access tokens are short-lived; MGX's API
checks the signature and then the row, so a revoked token stops working at once.

Claims: `iss` (MGX_PUBLIC_URL), `sub` (the user's id, or the client id for client-credentials
tokens), `aud` and `client_id` (the client the token was issued to), `exp`, `iat`, `jti`,
`scope`; for people also `preferred_username` (the name they log into this client with: for an
app, the app-visible name) and, for app clients, `app` (the app's slug).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings

from core.tokens import token_hash

TOKEN_TYPE = "at+jwt"


@lru_cache(maxsize=16)
def _jwk(pem: str) -> tuple[jwk.JWK, str]:
    # Loading an RSA PEM costs milliseconds; every API call would pay it per key.
    key = jwk.JWK.from_pem(pem.encode())
    return key, key.thumbprint()


def _active_key() -> tuple[jwk.JWK, str]:
    return _jwk(oauth2_settings.OIDC_RSA_PRIVATE_KEY)


def _published_keys() -> dict[str, jwk.JWK]:
    pems = [oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]
    return {kid: key for key, kid in map(_jwk, pems)}


def access_token_lifetime(request) -> int:
    """Seconds an access token lives: MGX_ACCESS_TOKEN_SECONDS, or a client's shorter setting."""
    from .selectors import client_settings

    default = settings.MGX_ACCESS_TOKEN_SECONDS
    policy = client_settings(application=getattr(request, "client", None))
    if policy is not None and policy.access_token_seconds:
        return min(policy.access_token_seconds, default)
    return default


def access_token_generate(request, refresh_token=False) -> str:
    """DOT's ACCESS_TOKEN_GENERATOR: called by oauthlib with its request while issuing."""
    from .selectors import client_settings, login_name_for

    client = request.client
    now = int(time.time())
    user = getattr(request, "user", None)
    if request.grant_type == "client_credentials":
        user = None
    claims = {
        "iss": settings.MGX_OAUTH_ISSUER,
        "sub": str(user.pk) if user is not None else client.client_id,
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + int(request.expires_in),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(request.scopes or []),
    }
    policy = client_settings(application=client)
    if user is not None:
        claims["preferred_username"] = login_name_for(user=user, client=client)
    if policy is not None and policy.app_id:
        claims["app"] = policy.app.slug
    key, kid = _active_key()
    token = jwt.JWT(
        header={"alg": "RS256", "typ": TOKEN_TYPE, "kid": kid},
        claims=claims,
    )
    token.make_signed_token(key)
    return token.serialize()


class TokenRejected(Exception):
    """The bearer token cannot be used; `str()` is the reason, safe to show the caller."""


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict
    access_token: object  # oauth2_provider AccessToken row

    @property
    def user(self):
        return self.access_token.user

    @property
    def scopes(self) -> set[str]:
        return set(self.claims.get("scope", "").split())


def access_token_verify(raw: str) -> VerifiedToken:
    """Check a bearer token the way an app would (signature by `kid` against the published
    keys, `iss`, `exp`), then that the provider still holds it (not revoked)."""
    try:
        unverified = jws.JWS()
        unverified.deserialize(raw)
        header = unverified.jose_header
    except (JWException, ValueError, TypeError):
        raise TokenRejected("The token is not a JWT issued by MGX.") from None
    if header.get("alg") != "RS256" or header.get("typ") != TOKEN_TYPE:
        raise TokenRejected("The token is not an MGX access token.")
    key = _published_keys().get(header.get("kid", ""))
    if key is None:
        raise TokenRejected("The token was signed with a key MGX no longer publishes.")
    try:
        # jwcrypto checks the signature and exp/nbf; the rest is checked below.
        token = jwt.JWT(jwt=raw, key=key, algs=["RS256"], check_claims={"exp": None}, expected_type="JWS")
        claims = json.loads(token.claims)
    except jwt.JWTExpired:
        raise TokenRejected("The token has expired.") from None
    except (JWException, ValueError, TypeError):
        raise TokenRejected("The token's signature is not valid.") from None
    if claims.get("iss") != settings.MGX_OAUTH_ISSUER:
        raise TokenRejected("The token was issued by someone else.")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise TokenRejected("The token has expired.")
    row = (
        get_access_token_model()
        .objects.select_related("user", "application")
        .filter(token_checksum=token_hash(raw))
        .first()
    )
    if row is None:
        raise TokenRejected("The token has been revoked.")
    if row.is_expired():
        raise TokenRejected("The token has expired.")
    return VerifiedToken(claims=claims, access_token=row)
