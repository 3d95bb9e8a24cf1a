"""The provider's endpoints where MGX differs from DOT's stock views.

- authorize: for an app's client the person logs in on that app's login page (app users never
  log into MGX), everyone else with their MGX session; consent page in MGX's look.
- introspection (RFC 7662): a client learns only about its own tokens.
- discovery: also lists the revocation and introspection endpoints and the grant types.
- RP-initiated logout: from an app, ends the login to that app only.
- the app login/sign-up pages and the sign-up API an app's own login form uses.
"""
import calendar
import json

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider.exceptions import InvalidOIDCClientError
from oauth2_provider.models import Application
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.views import AuthorizationView, ConnectDiscoveryInfoView, IntrospectTokenView, RPInitiatedLogoutView
from oauthlib.common import Request as OauthlibRequest
from oauthlib.common import add_params_to_uri

from sessions_app.models import App

from . import selectors, services
from .forms import LoginForm, SignupForm
from .views import _apply_errors, safe_next


def authenticated_client(request) -> Application | None:
    """The client proving itself with HTTP Basic or client_id/client_secret in the body."""
    core = get_oauthlib_core()
    uri, method, body, headers = core._extract_params(request)
    oauth_request = OauthlibRequest(uri, method, body, headers)
    if core.server.request_validator.authenticate_client(oauth_request):
        return oauth_request.client
    return None


def _invalid_client() -> JsonResponse:
    # RFC 6749 §5.2, which RFC 7662 §2.3 points to: 401 with the scheme the client should use.
    response = JsonResponse({"error": "invalid_client", "error_description":
                             "Introspection needs a confidential client authenticated with its secret."}, status=401)
    response["WWW-Authenticate"] = 'Basic realm="mgx"'
    return response


class AuthorizeView(AuthorizationView):
    template_name = "accounts/oauth_authorize.html"

    def dispatch(self, request, *args, **kwargs):
        self.app = None
        client_id = request.GET.get("client_id") or request.POST.get("client_id")
        if client_id:
            application = selectors.application_by_client_id(client_id=client_id)
            self.app = selectors.client_app(application=application) if application else None
        if self.app is not None:
            # Who is logged into *this app* in this browser; the MGX session plays no part.
            request.user = selectors.app_login_user(session=request.session, app=self.app) or AnonymousUser()
        return super().dispatch(request, *args, **kwargs)

    def get_login_url(self):
        if self.app is not None:
            return reverse("mgx_oauth:app_login", args=[self.app.slug])
        return super().get_login_url()


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class IntrospectView(IntrospectTokenView):
    """RFC 7662, for confidential clients that authenticate (client_secret_basic or _post).

    A public client has no secret to prove who it is (DOT would accept MGX's `mgx` with an
    empty one), and a bearer token with an `introspection` scope is no client at all: both are
    refused, so no one learns about a token without holding a client's secret.
    """

    def dispatch(self, request, *args, **kwargs):
        if request.method not in ("GET", "POST"):
            return self.http_method_not_allowed(request, *args, **kwargs)
        self.caller = authenticated_client(request)
        if self.caller is None or self.caller.client_type != Application.CLIENT_CONFIDENTIAL or not self.caller.client_secret:
            return _invalid_client()
        # DOT's own dispatch would authenticate again (and also admit bearer tokens).
        return getattr(self, request.method.lower())(request, *args, **kwargs)

    def get_token_response(self, token_value=None):
        if token_value is None:
            return JsonResponse({"error": "invalid_request", "error_description": "Token parameter is missing."}, status=400)
        token = selectors.access_token_by_value(value=token_value)
        if token is None or not token.is_valid():
            return JsonResponse({"active": False})
        # RFC 7662 §2.2 lets the server hide tokens from callers that have no business with
        # them: one app must not learn about another app's users.
        if token.application_id != self.caller.pk:
            return JsonResponse({"active": False})
        data = {
            "active": True,
            "scope": token.scope,
            "exp": int(calendar.timegm(token.expires.utctimetuple())),
            "token_type": "Bearer",
            "iss": settings.MGX_OAUTH_ISSUER,
        }
        if token.application:
            data["client_id"] = token.application.client_id
            data["aud"] = token.application.client_id
        if token.user:
            data["sub"] = str(token.user.pk)
            data["username"] = selectors.login_name_for(user=token.user, client=token.application)
        else:
            data["sub"] = token.application.client_id if token.application else ""
        return JsonResponse(data)


class DiscoveryView(ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["revocation_endpoint"] = self._get_endpoint_url(request, "revoke-token", required=True)
        data["introspection_endpoint"] = self._get_endpoint_url(request, "introspect", required=True)
        data["grant_types_supported"] = ["authorization_code", "refresh_token", "password", "client_credentials"]
        data["revocation_endpoint_auth_methods_supported"] = data["token_endpoint_auth_methods_supported"]
        # Introspection answers only a client that proves who it is (it sees its own tokens).
        data["introspection_endpoint_auth_methods_supported"] = ["client_secret_basic", "client_secret_post"]
        fresh = JsonResponse(data)
        fresh["Access-Control-Allow-Origin"] = "*"
        return fresh


class LogoutView(RPInitiatedLogoutView):
    template_name = "accounts/oauth_logout.html"

    def get_request_application(self, id_token, client_id):
        if client_id:
            application = selectors.application_by_client_id(client_id=client_id)
            if application is None:
                raise InvalidOIDCClientError()
            return application
        return id_token.application if id_token else None

    def validate_logout_request(self, id_token_hint, client_id, post_logout_redirect_uri):
        application, token_user = super().validate_logout_request(id_token_hint, client_id, post_logout_redirect_uri)
        self.app = selectors.client_app(application=application) if application else None
        return application, token_user

    def must_prompt(self, token_user):
        if getattr(self, "app", None) is not None:
            # Leaving one app is harmless, but without an ID token from that app anyone could
            # link people out of it: ask then.
            return token_user is None
        return super().must_prompt(token_user)

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        app = getattr(self, "app", None)
        if app is None:
            # MGX itself: DOT ends the Django session and deletes the person's tokens, which
            # includes the token the MGX session is bound to.
            return super().do_logout(application, post_logout_redirect_uri, state, token_user)
        services.app_logout(request=self.request, app=app, application=application)
        if token_user is not None:
            services.app_tokens_revoke(user=token_user, app=app)
        target = post_logout_redirect_uri or selectors.app_post_logout_urls(app=app)[-1]
        if state:
            target = add_params_to_uri(target, [("state", state)])
        return HttpResponseRedirect(target)


# ---------------------------------------------------------------- an app's login pages


def _app_with_client(slug: str) -> tuple[App, object]:
    app = selectors.app_by_slug_or_404(slug=slug)
    return app, services.app_client_register(app=app)


def _app_next(request, app) -> str:
    """Only back into the authorize endpoint (or the app itself), never elsewhere."""
    target = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if target.startswith(reverse("oauth2_provider:authorize")):
        return target
    return selectors.app_post_logout_urls(app=app)[-1]


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def app_login(request, slug):
    app, client = _app_with_client(slug)
    next_url = _app_next(request, app)
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.attempt(lambda **creds: services.app_login(request=request, app=app, **creds)):
        return redirect(next_url)
    return render(
        request,
        "accounts/app_login.html",
        {"app": app, "client": client, "form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


@sensitive_post_parameters("password", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def app_signup(request, slug):
    app, client = _app_with_client(slug)
    next_url = _app_next(request, app)
    if not client.self_signup:
        return render(request, "accounts/app_signup.html", {"app": app, "closed": True, "next": next_url}, status=403)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and not form.is_valid():
        # Say everything at once: the name and password rules too, not only the form's own.
        checked = services.app_member_check(
            app=app, username=request.POST.get("username", "").strip(), email="",
            password=request.POST.get("password") or None,
        )
        for field, messages in checked.items():
            for message in messages:
                if message not in form.errors.get(field, []):
                    form.add_error(field, message)
    elif request.method == "POST":
        try:
            member = services.app_member_signup(
                app=app,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except services.SignupClosed as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            services.app_login_remember(request=request, member=member)
            return redirect(next_url)
    return render(
        request,
        "accounts/app_signup.html",
        {"app": app, "form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


@csrf_exempt
@sensitive_post_parameters("password", "client_secret")
@never_cache
@require_POST
def signup_api(request):
    """`POST /oauth2/signup/`: an app's backend registers a user for its own login form.

    Client authentication as at the token endpoint (HTTP Basic, or client_id + client_secret
    in the body); form-encoded or JSON body with `username`, `password` and optional `email`.
    201 with `sub` and `username`; 403 `signup_disabled` when the owner has not turned
    self-signup on; 400 `invalid_request` with per-field messages; 401 `invalid_client`.
    """
    client = authenticated_client(request)
    if client is None:
        return JsonResponse({"error": "invalid_client", "error_description": "Client authentication failed."}, status=401)
    app = selectors.client_app(application=client)
    if app is None:
        return JsonResponse(
            {"error": "unauthorized_client", "error_description": "Only an app's client registers that app's users."},
            status=403,
        )
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JsonResponse({"error": "invalid_request", "error_description": "The body must be a JSON object."}, status=400)
    else:
        data = request.POST
    try:
        member = services.app_member_signup(
            app=app,
            username=str(data.get("username", "")),
            password=str(data.get("password", "")),
            email=str(data.get("email", "")),
        )
    except services.SignupClosed as exc:
        return JsonResponse({"error": "signup_disabled", "error_description": str(exc)}, status=403)
    except ValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return JsonResponse(
            {"error": "invalid_request", "error_description": "The user was not created.", "fields": fields}, status=400
        )
    return JsonResponse({"sub": str(member.user_id), "username": member.username, "email": member.email}, status=201)
