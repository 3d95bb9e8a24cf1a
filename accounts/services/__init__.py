"""Writes of the accounts app, one module per concern; everything is re-exported here so callers
keep writing `from accounts import services; services.app_member_create(...)`.

- `admins`: the first admin.
- `oauth_clients`: MGX's own client, each app's client, revoking what a client handed out.
- `external_clients`: OAuth clients of apps outside MGX.
- `app_members`: an app's users.
- `credentials`: the one password check (every client, every login page).
- `login`: logging into MGX itself (the login session bound to a token), password change.
- `app_login`: logging into an app on its MGX login page.
- `ssh_keys`: a user's SSH keys.

"Session" alone means an MGX session (an app); Django's browser session is the login session.
"""
from ..throttle import LoginLocked
from .admins import admin_ensure, admin_password_reset
from .app_login import app_login, app_login_remember, app_logout
from .app_members import (
    SignupClosed,
    app_member_add_account,
    app_member_check,
    app_member_create,
    app_member_password_reset,
    app_member_set_active,
    app_member_signup,
)
from .credentials import credentials_check
from .external_clients import (
    EXTERNAL_GRANTS,
    external_client_check,
    external_client_delete,
    external_client_register,
    external_client_secret_rotate,
    redirect_uri_check,
)
from .login import (
    FIRST_PARTY_SCOPE,
    WRONG_CREDENTIALS,
    LoginFailed,
    login_token_check,
    mgx_login,
    mgx_logout,
    user_password_change,
)
from .oauth_clients import (
    app_client_register,
    app_client_secret_rotate,
    app_self_signup_set,
    app_tokens_revoke,
    first_party_client_ensure,
)
from .ssh_keys import ssh_key_add, ssh_key_delete

__all__ = [
    "EXTERNAL_GRANTS", "FIRST_PARTY_SCOPE", "WRONG_CREDENTIALS", "LoginFailed", "LoginLocked", "SignupClosed",
    "admin_ensure", "admin_password_reset", "app_client_register", "app_client_secret_rotate", "app_login",
    "app_login_remember", "app_logout", "app_member_add_account", "app_member_check", "app_member_create", "app_member_password_reset",
    "app_member_set_active", "app_member_signup", "app_self_signup_set", "app_tokens_revoke", "credentials_check",
    "external_client_check", "external_client_delete", "external_client_register", "external_client_secret_rotate",
    "first_party_client_ensure", "login_token_check", "mgx_login", "mgx_logout", "redirect_uri_check",
    "ssh_key_add", "ssh_key_delete", "user_password_change",
]
