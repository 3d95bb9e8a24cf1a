"""The OAuth client admin, kept apart from accounts.admin: DOT's admin module imports it
(APPLICATION_ADMIN_CLASS) while it is itself being imported."""
from django.contrib import admin
from oauth2_provider.admin import ApplicationAdmin

from .models import OAuthClient


class OAuthClientInline(admin.StackedInline):
    model = OAuthClient
    can_delete = False
    fields = ("kind", "app", "extra_grant_types", "access_token_seconds", "self_signup", "secret_rotated_at")
    readonly_fields = ("secret_rotated_at",)
    raw_id_fields = ("app",)


class ClientAdmin(ApplicationAdmin):
    """DOT's application admin (set as APPLICATION_ADMIN_CLASS) with MGX's rules inline."""

    inlines = [OAuthClientInline]
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "kind", "app")

    @admin.display(description="kind")
    def kind(self, obj):
        policy = getattr(obj, "mgx", None)
        return policy.get_kind_display() if policy else "—"

    @admin.display(description="app")
    def app(self, obj):
        policy = getattr(obj, "mgx", None)
        return policy.app if policy and policy.app_id else "—"
