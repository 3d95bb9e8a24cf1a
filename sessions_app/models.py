import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.frameworks import FRAMEWORK_LABELS

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")
# Path segments MGX itself owns, names a gateway or a browser would confuse with MGX's own
# routes, and names that read as system accounts.
RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "apps", "static", "media", "ws", "oauth2", "otlp", "accounts", "sessions",
        "healthz", "health", "login", "logout", "new", "dev", "prod", "www", "mgx", "root", "system",
        "internal", "favicon-ico", "robots-txt", "well-known",
    }
)


def validate_slug(value: str) -> None:
    if not SLUG_RE.match(value or "") or "--" in value:
        raise ValidationError(
            "Use 3–40 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit.",
            code="invalid_slug",
        )
    if value in RESERVED_SLUGS:
        raise ValidationError(f"“{value}” is reserved by MGX; choose another name.", code="reserved_slug")


class App(models.Model):
    """One session is one app: its workspace, containers, users and deploys hang off the slug."""

    # NEXTJS, FASTAPI_VITE, ...: the one list is core.frameworks.
    Framework = models.TextChoices("Framework", [(fid.upper(), (fid, label)) for fid, label in FRAMEWORK_LABELS.items()])

    slug = models.SlugField(max_length=40, unique=True, validators=[validate_slug])
    name = models.CharField(max_length=100)
    framework = models.CharField(max_length=20, choices=Framework.choices)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="apps")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.slug

    def can_be_used_by(self, user) -> bool:
        return bool(user and user.is_authenticated and (user.pk == self.owner_id or user.is_superuser))
