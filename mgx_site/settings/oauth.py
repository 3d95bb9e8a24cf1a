"""The OAuth2/OIDC provider (django-oauth-toolkit) and MGX's login rules.

Access tokens are RS256 JWTs (accounts.tokens) whose `iss` is MGX_PUBLIC_URL; the keys come
from accounts.keys (generated once under the var dir, or MGX_OIDC_RSA_PRIVATE_KEY), loaded when
the accounts app is ready (`AccountsConfig.ready`), not here: settings only read the environment.
"""
from .env import MGX_PUBLIC_URL, env

MGX_ACCESS_TOKEN_SECONDS = env.int("MGX_ACCESS_TOKEN_SECONDS", default=3600)
MGX_ID_TOKEN_SECONDS = env.int("MGX_ID_TOKEN_SECONDS", default=3600)
MGX_REFRESH_TOKEN_SECONDS = env.int("MGX_REFRESH_TOKEN_SECONDS", default=30 * 24 * 3600)
# A retired signing key stays in the JWKS this long: every token it signed has expired by then.
MGX_OIDC_KEY_RETENTION_SECONDS = max(MGX_ACCESS_TOKEN_SECONDS, MGX_ID_TOKEN_SECONDS) + 300
MGX_OIDC_RSA_PRIVATE_KEY = env("MGX_OIDC_RSA_PRIVATE_KEY", default="")
MGX_OIDC_KEYRING = None  # the loaded accounts.keys.Keyring, set by AccountsConfig.ready()
# The issuer every token carries. Apps check it against this public URL even when they fetch
# the JWKS over an internal address (host.docker.internal).
MGX_OAUTH_ISSUER = MGX_PUBLIC_URL
# MGX's own web login and API clients use this public client (password grant, refresh).
MGX_FIRST_PARTY_CLIENT_ID = "mgx"

# Failed logins: after this many failures within the window a name at one address (or an address
# for every name) is locked out, even with the right password. The name is counted per address so
# a stranger elsewhere cannot lock its owner out. Each further lockout of the same name at the
# same address lasts twice as long, from MGX_LOGIN_LOCKOUT_SECONDS up to
# MGX_LOGIN_LOCKOUT_MAX_SECONDS. An address gets more room than a name because many people can
# share one (an office NAT).
MGX_LOGIN_MAX_FAILURES_PER_USER = env.int("MGX_LOGIN_MAX_FAILURES_PER_USER", default=5)
MGX_LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("MGX_LOGIN_MAX_FAILURES_PER_ADDRESS", default=20)
MGX_LOGIN_FAILURE_WINDOW_SECONDS = env.int("MGX_LOGIN_FAILURE_WINDOW_SECONDS", default=900)
MGX_LOGIN_LOCKOUT_SECONDS = env.int("MGX_LOGIN_LOCKOUT_SECONDS", default=900)
MGX_LOGIN_LOCKOUT_MAX_SECONDS = env.int("MGX_LOGIN_LOCKOUT_MAX_SECONDS", default=86400)


def _token_lifetime(request):
    # Imported late: settings load before Django's app registry.
    from accounts.tokens import access_token_lifetime

    return access_token_lifetime(request)


def _pkce_required(client_id):
    from accounts.selectors import client_requires_pkce

    return client_requires_pkce(client_id=client_id)


# DOT's models are swappable; migrations referring to them read these names.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "accounts.oauth_validator.MgxOAuth2Validator",
    "APPLICATION_ADMIN_CLASS": "accounts.oauth_admin.ClientAdmin",
    "ACCESS_TOKEN_GENERATOR": "accounts.tokens.access_token_generate",
    # Without this oauthlib would make refresh tokens with the JWT generator too; they stay
    # opaque random strings that only the token endpoint understands.
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": MGX_ACCESS_TOKEN_SECONDS,
    "EXTRA_SERVER_KWARGS": {"token_expires_in": _token_lifetime},
    "ID_TOKEN_EXPIRE_SECONDS": MGX_ID_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": MGX_REFRESH_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    # A refresh token used twice means it leaked: revoke the whole chain it belongs to.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": _pkce_required,
    "SCOPES": {
        "openid": "Sign you in (OpenID Connect)",
        "profile": "See your username and name",
        "email": "See your email address",
        "read": "Read your apps and their files",
        "write": "Change your apps and their files",
    },
    "DEFAULT_SCOPES": ["read", "write"],
    "REQUEST_APPROVAL_PROMPT": "auto",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": MGX_OAUTH_ISSUER,
    # OIDC_RSA_PRIVATE_KEY and OIDC_RSA_PRIVATE_KEYS_INACTIVE: filled in from the keyring
    # (accounts.keys.keyring_use) when the accounts app is ready, and after each rotation.
    "OIDC_JWKS_MAX_AGE_SECONDS": 300,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    # Public clients (MGX's own, single-page apps) authenticate with their client_id alone.
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "password", "client_credentials", "refresh_token"],
    # RFC 9700 hardening, adopted now rather than at DOT 4.0: no implicit grant, S256 only, no
    # tokens in query strings, `iss` on authorization responses, only token hashes at rest.
    # The password grant stays on (the apps' own login forms use it); MGX's validator decides
    # which clients may use it.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
}
