"""The one password check, for MGX's own login, its API clients and every app's login."""
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from .. import selectors
from ..models import APP_ONLY_SEPARATOR, AppMember
from ..throttle import Subject, throttle_check, throttle_fail, throttle_succeed


def credentials_check(*, application, username: str, password: str, address: str):
    """The one place a password is checked, for every client and the app login pages.

    Returns the user or None. Raises LoginLocked while the name or the address is locked out.
    For an app's client the name is looked up among that app's members only, so a user of app
    A does not exist as far as app B is concerned; for MGX's own and external clients app-only
    accounts are refused.
    """
    username = (username or "").strip()
    app = selectors.client_app(application=application) if application is not None else None
    subject = Subject(user_key=selectors.app_only_username(app=app, username=username) if app else username,
                      address=address or "")
    throttle_check(subject=subject)
    user = None
    if app is not None:
        member = selectors.app_member_for_login(app=app, username=username)
        if member is None:
            make_password(password)  # same time spent as for a real name
        elif member.is_active and member.user.is_active and member.user.check_password(password):
            user = member.user
            AppMember.objects.filter(pk=member.pk).update(last_login_at=timezone.now())
    elif username and APP_ONLY_SEPARATOR not in username:
        candidate = authenticate(None, username=username, password=password)
        if candidate is not None and candidate.is_active and not selectors.is_app_only(user=candidate):
            user = candidate
    if user is None:
        throttle_fail(subject=subject)
        return None
    throttle_succeed(subject=subject)
    return user
