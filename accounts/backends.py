"""The authentication backend that loads a login session's user on every request.

Django's ModelBackend loads it with an ORM `get()` per request (~0.45 ms of CPU on the 2-core
machine, bench/read_profile.py); this one reads the same row with one query compiled once
(core.rows), and applies ModelBackend's rule (an inactive user is nobody). Django still checks
the session against the user's password hash after loading it (django.contrib.auth.get_user),
so a password change still ends the other login sessions at once.

It checks no passwords and grants no permissions: `authenticate` answers None (ModelBackend,
first in AUTHENTICATION_BACKENDS, checks passwords), and permissions come from ModelBackend.
MGX's login (accounts.services.login) names it as the login session's backend.
"""
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

from core.rows import RowQuery

PATH = "accounts.backends.LoginSessionBackend"


@cache
def _user_row() -> RowQuery:
    user_model = get_user_model()
    return RowQuery(user_model, f"{{{user_model._meta.pk.name}}} = %s")


class LoginSessionBackend(BaseBackend):
    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        try:
            user = _user_row().get(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and getattr(user, "is_active", True) else None
