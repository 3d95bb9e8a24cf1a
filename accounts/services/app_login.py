"""An app's login on MGX. An app's users log in on MGX's login page for that app (authorization
code flow). That login is remembered in the browser's login session per app, apart from
Django's own login, so an app user never becomes logged into MGX itself and one browser can be
in several apps."""
from .. import selectors
from ..models import AppMember
from ..selectors import APP_LOGINS_KEY
from ..throttle import LoginLocked
from .credentials import credentials_check
from .login import WRONG_CREDENTIALS, LoginFailed, client_address
from .oauth_clients import app_client_register, grant_tokens_revoke

def app_login_remember(*, request, member: AppMember) -> None:
    request.session.cycle_key()  # a fresh session id after authentication (session fixation)
    logins = dict(request.session.get(APP_LOGINS_KEY) or {})
    logins[str(member.app_id)] = {"user": member.user_id, "hash": member.user.get_session_auth_hash()}
    request.session[APP_LOGINS_KEY] = logins


def app_logout(*, request, app, application=None) -> None:
    """End the browser's login to `app` and revoke that person's tokens for the app's client."""
    user = selectors.app_login_user(session=request.session, app=app)
    logins = dict(request.session.get(APP_LOGINS_KEY) or {})
    logins.pop(str(app.pk), None)
    request.session[APP_LOGINS_KEY] = logins
    if user is not None and application is not None:
        grant_tokens_revoke(user=user, application=application)


def app_login(*, request, app, username: str, password: str) -> AppMember:
    """Log into an app on its MGX login page. Raises LoginFailed with what to show."""
    client = app_client_register(app=app)
    try:
        user = credentials_check(application=client.application, username=username, password=password,
                                 address=client_address(request))
    except LoginLocked as exc:
        raise LoginFailed(str(exc)) from None
    if user is None:
        raise LoginFailed(WRONG_CREDENTIALS)
    member = AppMember.objects.select_related("user", "app").get(app=app, user=user)
    app_login_remember(request=request, member=member)
    return member
