"""Accounts: MGX's OAuth2 clients, the users of each app, SSH keys and failed-login counters.

People are Django users. An *MGX user* logs into MGX itself. An *app user* logs into one
generated app: an `AppMember` row ties a Django user to an app. A person created for an app (on
its users page, or by signing up through the app's login form) is an *app-only* account: their
Django username is `<slug>:<name>` so that every app has its own namespace of names, and they
can never log into MGX. An MGX user can also be made a member of an app; they then log into
that app with their MGX name and password.
"""
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from oauth2_provider.models import Application

APP_ONLY_SEPARATOR = ":"


class OAuthClient(models.Model):
    """What MGX knows about an OAuth2 client beyond DOT's Application row.

    `kind` decides who may get tokens from the client: the first-party client and external
    clients serve MGX users; an app's client serves only that app's members.
    """

    class Kind(models.TextChoices):
        FIRST_PARTY = "first_party", "MGX itself"
        APP = "app", "Generated app"
        EXTERNAL = "external", "External client"

    application = models.OneToOneField(Application, on_delete=models.CASCADE, primary_key=True, related_name="mgx")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXTERNAL)
    app = models.OneToOneField(
        "sessions_app.App", on_delete=models.CASCADE, null=True, blank=True, related_name="oauth_client"
    )
    extra_grant_types = models.CharField(
        max_length=200,
        blank=True,
        help_text="OAuth grant types allowed besides the application's own, space separated "
        "(password, client_credentials, authorization_code, refresh_token).",
    )
    access_token_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Shorter access-token lifetime for this client (never longer than the default)."
    )
    self_signup = models.BooleanField(
        default=False, help_text="Apps only: people may create their own account from the app's login form."
    )
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth client settings"
        verbose_name_plural = "OAuth client settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="app", app__isnull=False) | (~models.Q(kind="app") & models.Q(app__isnull=True)),
                name="oauthclient_app_iff_kind_app",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.application}"

    @property
    def client_id(self) -> str:
        return self.application.client_id


class AppMember(models.Model):
    """A person who may log into one app (an *app user*)."""

    class Source(models.TextChoices):
        ADDED = "added", "Added by the owner"
        SIGNUP = "signup", "Signed up"
        OWNER = "owner", "The app's owner"  # their MGX account, made a member with the app
        ACCOUNT = "account", "An MGX admin the owner let in"

    app = models.ForeignKey("sessions_app.App", on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_memberships")
    # The name the app's login form uses, unique within the app.
    username = models.CharField(max_length=100)
    # True when the Django account exists only for this app: it cannot log into MGX.
    app_only = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADDED)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), "app", name="appmember_username_unique_per_app"),
            models.UniqueConstraint(fields=["app", "user"], name="appmember_user_once_per_app"),
        ]
        verbose_name = "app user"

    def __str__(self):
        return f"{self.username} @ {self.app_id and self.app.slug}"

    @property
    def email(self) -> str:
        return self.user.email


class SSHKey(models.Model):
    """A public key the user logs in with over SSH (dev containers). One key, one account:
    the fingerprint is unique across MGX so a key always names exactly one person."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    title = models.CharField(max_length=100)
    key_type = models.CharField(max_length=60)
    # The normalized `<type> <base64>` line, without the comment.
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=100, unique=True)
    bits = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "SSH key"

    def __str__(self):
        return f"{self.title} ({self.fingerprint})"

    @property
    def authorized_keys_line(self) -> str:
        return f"{self.public_key} {self.title}"


class LoginThrottle(models.Model):
    """Failed logins counted per user name at one client address, and per address."""

    class Scope(models.TextChoices):
        PAIR = "pair", "User name at an address"
        ADDRESS = "address", "Address"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    key = models.CharField(max_length=255)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    lockouts = models.PositiveIntegerField(
        default=0, help_text="Lockouts in a row; each one lasts twice as long as the one before.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="loginthrottle_scope_key")]
        verbose_name = "failed-login counter"

    def __str__(self):
        return f"{self.scope} {self.key}: {self.failures}"
