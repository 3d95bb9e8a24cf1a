"""MGX's login and logout, the profile page (password, SSH keys), the user's own OAuth clients,
and the page that manages an app's users."""
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .models import AppMember
from .forms import (
    AppMemberForm,
    ExternalClientForm,
    LoginForm,
    ProfilePasswordForm,
    SSHKeyForm,
)

REVEAL_KEY = "_mgx_reveal"


def safe_next(request, candidate: str | None) -> str:
    """`candidate` when it points back into MGX or to an app on the apps origin (a dev preview
    sends people here to log in), else ''."""
    apps = urlsplit(settings.MGX_APPS_URL)
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    if candidate and candidate.startswith(f"{apps.scheme}://{apps.netloc}/apps/"):
        return candidate
    return ""


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# ---------------------------------------------------------------- login / logout


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.attempt(lambda **creds: services.mgx_login(request=request, **creds)):
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    status = 400 if form.errors else 200
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def logout_view(request):
    services.mgx_logout(request=request)
    messages.info(request, "You have logged out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


# ---------------------------------------------------------------- profile


def _profile(request, *, key_form=None, password_form=None, status=200):
    return render(
        request,
        "accounts/profile.html",
        {
            "nav": "profile",
            "keys": selectors.ssh_keys_for(user=request.user),
            "key_form": key_form or SSHKeyForm(),
            "password_form": password_form or ProfilePasswordForm(request.user),
            "first_party_client_id": settings.MGX_FIRST_PARTY_CLIENT_ID,
            "token_url": request.build_absolute_uri(reverse("oauth2_provider:token")),
            "client_count": selectors.external_clients_for(user=request.user).count(),
        },
        status=status,
    )


@login_required
@require_GET
def profile(request):
    return _profile(request)


@login_required
@require_POST
def ssh_key_add(request):
    form = SSHKeyForm(request.POST)
    if form.is_valid():
        try:
            key = services.ssh_key_add(
                user=request.user, public_key=form.cleaned_data["public_key"], title=form.cleaned_data["title"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Added SSH key “{key.title}” ({key.fingerprint}).")
            return redirect("accounts:profile")
    return _profile(request, key_form=form, status=400)


@login_required
@require_POST
def ssh_key_delete(request, key_id: int):
    key = services.ssh_key_delete(user=request.user, key_id=key_id)
    messages.success(request, f"Deleted SSH key “{key.title}”.")
    return redirect("accounts:profile")


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
@require_POST
def password_change(request):
    form = ProfilePasswordForm(request.user, request.POST)
    if not form.is_valid():
        return _profile(request, password_form=form, status=400)
    revoked = services.user_password_change(request=request, user=request.user, new_password=form.cleaned_data["new_password1"])
    note = f" {revoked} token{'s' if revoked != 1 else ''} held elsewhere {'were' if revoked != 1 else 'was'} revoked." if revoked else ""
    messages.success(request, "Your password has been changed." + note)
    return redirect("accounts:profile")


# ---------------------------------------------------------------- the user's own OAuth clients

CLIENT_REVEAL_KEY = "_mgx_client_secret"


def _provider_urls(request) -> dict:
    """What a developer configures in their app's OAuth library."""
    return {
        "issuer": settings.MGX_OAUTH_ISSUER,
        "discovery": f"{settings.MGX_PUBLIC_URL}/.well-known/openid-configuration",
        "authorize": f"{settings.MGX_PUBLIC_URL}{reverse('oauth2_provider:authorize')}",
        "token": f"{settings.MGX_PUBLIC_URL}{reverse('oauth2_provider:token')}",
        "userinfo": f"{settings.MGX_PUBLIC_URL}{reverse('oauth2_provider:user-info')}",
    }


@sensitive_post_parameters()
@login_required
@require_http_methods(["GET", "POST"])
def clients(request):
    """List the user's external OAuth clients; POST registers one and shows its secret once."""
    form = ExternalClientForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                client, secret = services.external_client_register(
                    name=form.cleaned_data["name"],
                    redirect_uris=form.redirect_uri_list(),
                    grants=form.cleaned_data["grants"],
                    confidential=form.cleaned_data["client_type"] == "confidential",
                    owner=request.user,
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                if secret:
                    request.session[CLIENT_REVEAL_KEY] = {"client_id": client.client_id, "secret": secret}
                messages.success(request, f"Registered “{client.application.name}”.")
                return redirect("accounts:client_detail", client_id=client.client_id)
        status = 400
    items = [(c, selectors.client_grants_shown(client=c)) for c in selectors.external_clients_for(user=request.user)]
    return render(request, "accounts/clients.html", {"nav": "profile", "clients": items, "form": form,
                                                     "provider": _provider_urls(request)}, status=status)


@login_required
@require_GET
def client_detail(request, client_id: str):
    client = selectors.external_client_for_owner(user=request.user, client_id=client_id)
    reveal = request.session.get(CLIENT_REVEAL_KEY)
    if reveal and reveal.get("client_id") == client.client_id:
        request.session.pop(CLIENT_REVEAL_KEY)
    else:
        reveal = None
    response = render(request, "accounts/client.html", {
        "nav": "profile",
        "client": client,
        "application": client.application,
        "confidential": client.application.client_type == client.application.CLIENT_CONFIDENTIAL,
        "redirect_uris": client.application.redirect_uris.split(),
        "grants": selectors.client_grants_shown(client=client),
        "reveal": reveal,
        "provider": _provider_urls(request),
    })
    response["Cache-Control"] = "no-store"  # it may carry the secret
    return response


@login_required
@require_POST
def client_secret_rotate(request, client_id: str):
    client = selectors.external_client_for_owner(user=request.user, client_id=client_id)
    try:
        secret = services.external_client_secret_rotate(client=client)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        request.session[CLIENT_REVEAL_KEY] = {"client_id": client.client_id, "secret": secret}
        messages.success(request, "Issued a new client secret; the old one no longer works.")
    return redirect("accounts:client_detail", client_id=client.client_id)


@login_required
@require_POST
def client_delete(request, client_id: str):
    client = selectors.external_client_for_owner(user=request.user, client_id=client_id)
    name = client.application.name
    services.external_client_delete(client=client)
    messages.success(request, f"Deleted “{name}”; the tokens it was given no longer work.")
    return redirect("accounts:clients")


# ---------------------------------------------------------------- an app's users


def _reveal(request, slug: str, title: str, secret: str) -> None:
    """A generated password or client secret, shown once on the next render of the page. Kept
    in the server-side session rather than a message cookie."""
    request.session[REVEAL_KEY] = {"slug": slug, "title": title, "secret": secret}


def app_users_context(request, app):
    """Everything `accounts/app_users.html#panel` needs; the session page's Users tab renders
    the same partial with this context. Reads only: the app's OAuth client comes with the app
    (`studio.services.app_create`; older apps got theirs in migration 0004)."""
    client = selectors.app_client_get(app=app)
    reveal = request.session.get(REVEAL_KEY)
    if reveal and reveal.get("slug") == app.slug:
        request.session.pop(REVEAL_KEY)
    else:
        reveal = None
    members = list(selectors.app_members(app=app))
    return {
        "nav": "apps",
        "app": app,
        "client": client,
        "members": members,
        "active_count": sum(1 for m in members if m.is_active),
        "callback_urls": selectors.app_callback_urls(app=app),
        "let_in": selectors.mgx_accounts_to_let_in(app=app),
        "member_form": AppMemberForm(),
        "reveal": reveal,
        "here": safe_next(request, request.POST.get("next") or request.GET.get("next"))
        or reverse("app_users:list", args=[app.slug]),
    }


def _render_app_users(request, app, *, member_form=None, status=200):
    context = app_users_context(request, app)
    if member_form is not None:
        context["member_form"] = member_form
    # HTMX (the users tab of the session page) gets the panel alone; a plain request the page.
    template = "accounts/app_users.html#panel" if request.htmx else "accounts/app_users.html"
    return render(request, template, context, status=status)


def _after_action(request, app):
    if request.htmx:
        return _render_app_users(request, app)
    return redirect(safe_next(request, request.POST.get("next")) or reverse("app_users:list", args=[app.slug]))


@login_required
@require_GET
def app_users(request, slug):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    return _render_app_users(request, app)


@sensitive_post_parameters("password")
@login_required
@require_POST
def app_user_create(request, slug):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    form = AppMemberForm(request.POST)
    if form.is_valid():
        try:
            member, password = services.app_member_create(
                app=app,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"] or None,
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            if not form.cleaned_data["password"]:
                _reveal(request, app.slug, f"Password for {member.username}", password)
            messages.success(request, f"Created user “{member.username}”.")
            return _after_action(request, app)
    return _render_app_users(request, app, member_form=form, status=422 if request.htmx else 400)


@login_required
@require_POST
def app_user_account(request, slug):
    """Let an MGX account log into the app with its MGX name and password: the owner's own (back,
    after it was removed) or an MGX admin's."""
    app = selectors.app_for_manager(user=request.user, slug=slug)
    account = selectors.mgx_account_to_let_in(app=app, username=request.POST.get("username", ""))
    if account is None:
        messages.error(request, "Only the app's owner and MGX admins can be let in with their MGX account; add anyone "
                                "else as a user of the app.")
        return _after_action(request, app)
    try:
        services.app_member_add_account(
            app=app, user=account,
            source=AppMember.Source.OWNER if account.pk == app.owner_id else AppMember.Source.ACCOUNT)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{account.get_username()} may now log into {app.name} with their MGX account.")
    return _after_action(request, app)


@login_required
@require_POST
def app_user_active(request, slug, member_id: int):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    member = selectors.app_member_get(app=app, member_id=member_id)
    active = request.POST.get("active") == "1"
    services.app_member_set_active(member=member, active=active)
    messages.success(
        request,
        f"Enabled “{member.username}”." if active else f"Disabled “{member.username}”; their sessions in the app have ended.",
    )
    return _after_action(request, app)


@login_required
@require_POST
def app_user_password(request, slug, member_id: int):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    member = selectors.app_member_get(app=app, member_id=member_id)
    try:
        password = services.app_member_password_reset(member=member)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _reveal(request, app.slug, f"New password for {member.username}", password)
        messages.success(request, f"Reset the password of “{member.username}”; their sessions in the app have ended.")
    return _after_action(request, app)


@login_required
@require_POST
def app_signup_toggle(request, slug):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    enabled = request.POST.get("enabled") == "1"
    services.app_self_signup_set(app=app, enabled=enabled)
    messages.success(
        request,
        "People can now create their own account from the app's login form." if enabled
        else "Sign-up is closed: only users you create can log in.",
    )
    return _after_action(request, app)


@login_required
@require_POST
def app_client_secret(request, slug):
    app = selectors.app_for_manager(user=request.user, slug=slug)
    secret = services.app_client_secret_rotate(app=app)
    _reveal(request, app.slug, "New client secret", secret)
    messages.success(request, "Issued a new client secret; the old one no longer works. Restart the app's containers so they pick it up.")
    return _after_action(request, app)
