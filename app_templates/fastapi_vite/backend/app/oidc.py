"""Talking to MGX's OAuth2/OpenID Connect provider: the authorization request (code + PKCE S256),
the token call (authorization code or password grant, over MGX's internal URL) and the local
verification of the ID token against MGX's JWKS (RS256; signature, iss, aud, exp, nonce)."""
import base64
import hashlib
import secrets
import threading
import time
from urllib.parse import urlencode

import httpx
import jwt

from .config import Settings

SCOPE = "openid profile email"


class LoginError(Exception):
    """A login that must stop with a page saying why (`status` is the HTTP status of that page)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def new_transaction() -> dict:
    return {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48)}


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(settings: Settings, *, redirect_uri: str, transaction: dict) -> str:
    query = urlencode({
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": transaction["state"],
        "nonce": transaction["nonce"],
        "code_challenge": code_challenge(transaction["verifier"]),
        "code_challenge_method": "S256",
    })
    separator = "&" if "?" in settings.authorize_url else "?"
    return f"{settings.authorize_url}{separator}{query}"


def token_request(settings: Settings, form: dict) -> dict:
    """POST to MGX's token endpoint; MGX's own error text becomes the LoginError's message."""
    data = {**form, "client_id": settings.client_id, "client_secret": settings.client_secret}
    try:
        response = httpx.post(settings.token_url, data=data, headers={"Accept": "application/json"}, timeout=10)
    except httpx.HTTPError as exc:
        raise LoginError(f"MGX could not be reached to finish the login ({exc.__class__.__name__}). Try again in a moment.", 503) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "id_token" not in body:
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise LoginError(f"MGX refused the login: {reason}", 400)
    return body


class Jwks:
    """MGX's signing keys, fetched over the internal URL and cached; an unknown `kid` (MGX rotated
    its key) refetches, at most once a minute so forged tokens cannot hammer MGX."""

    def __init__(self, url: str, ttl: float = 300, min_refetch: float = 60):
        self.url, self.ttl, self.min_refetch = url, ttl, min_refetch
        self._keys: list[jwt.PyJWK] = []
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        try:
            response = httpx.get(self.url, timeout=10)
            response.raise_for_status()
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise LoginError(f"MGX's signing keys could not be fetched ({exc.__class__.__name__}). Try again in a moment.", 503) from exc
        self._keys, self._fetched = list(keyset.keys), time.monotonic()

    def keys_for(self, kid: str | None) -> list[jwt.PyJWK]:
        with self._lock:
            age = time.monotonic() - self._fetched
            if not self._keys or age > self.ttl:
                self._fetch()
            matching = [k for k in self._keys if kid is None or k.key_id == kid]
            if not matching and age > self.min_refetch:
                self._fetch()
                matching = [k for k in self._keys if kid is None or k.key_id == kid]
            return matching


def verify_id_token(settings: Settings, jwks: Jwks, id_token: str, *, nonce: str | None) -> dict:
    """The claims of an ID token that MGX signed for this app, or LoginError."""
    refused = "The login could not be verified: "
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise LoginError(refused + "the ID token is malformed.") from exc
    if header.get("alg") != "RS256":
        raise LoginError(refused + "the ID token is not signed with RS256.")
    keys = jwks.keys_for(header.get("kid"))
    if not keys:
        raise LoginError(refused + "the ID token was signed with a key MGX does not publish.")
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=settings.client_id,
                                issuer=settings.issuer, leeway=30,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise LoginError(refused + "the ID token has expired.") from exc
        except jwt.InvalidIssuerError as exc:
            raise LoginError(refused + "the ID token was issued by someone else.") from exc
        except jwt.InvalidAudienceError as exc:
            raise LoginError(refused + "the ID token is meant for another app.") from exc
        except jwt.PyJWTError as exc:
            raise LoginError(refused + f"the ID token is invalid ({exc}).") from exc
    if claims is None:
        raise LoginError(refused + "the ID token's signature is wrong.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise LoginError(refused + "the ID token belongs to another login attempt.")
    return claims


def user_from_claims(claims: dict) -> dict:
    return {"sub": str(claims["sub"]), "username": claims.get("preferred_username") or str(claims["sub"]),
            "email": claims.get("email") or ""}
