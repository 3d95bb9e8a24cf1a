"""Django admin for MGX users, app users, OAuth clients, SSH keys and failed-login counters."""
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.decorators import login_required

from .models import AppMember, LoginThrottle, SSHKey

User = get_user_model()

# One way in: the admin's own login form would bypass the provider and the login throttle.
admin.site.login = login_required(admin.site.login)


class SSHKeyInline(admin.TabularInline):
    model = SSHKey
    extra = 0
    fields = ("title", "key_type", "bits", "fingerprint", "created_at")
    readonly_fields = ("key_type", "bits", "fingerprint", "created_at")


class MembershipInline(admin.TabularInline):
    model = AppMember
    fk_name = "user"
    extra = 0
    fields = ("app", "username", "app_only", "is_active", "source", "last_login_at")
    readonly_fields = ("source", "last_login_at")
    raw_id_fields = ("app",)


class AppOnlyFilter(admin.SimpleListFilter):
    title = "account kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("mgx", "MGX users"), ("app", "App-only users")]

    def queryset(self, request, queryset):
        if self.value() == "app":
            return queryset.filter(app_memberships__app_only=True).distinct()
        if self.value() == "mgx":
            return queryset.exclude(app_memberships__app_only=True)
        return queryset


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [SSHKeyInline, MembershipInline]
    list_filter = (AppOnlyFilter, *DjangoUserAdmin.list_filter)


@admin.register(AppMember)
class AppMemberAdmin(admin.ModelAdmin):
    list_display = ("username", "app", "app_only", "is_active", "source", "created_at", "last_login_at")
    list_filter = ("is_active", "app_only", "source")
    search_fields = ("username", "app__slug", "user__email")
    raw_id_fields = ("app", "user")
    readonly_fields = ("created_at", "last_login_at")


@admin.register(SSHKey)
class SSHKeyAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "key_type", "bits", "fingerprint", "created_at")
    search_fields = ("title", "fingerprint", "user__username")
    raw_id_fields = ("user",)
    readonly_fields = ("key_type", "bits", "fingerprint", "public_key", "created_at")


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ("scope", "key", "failures", "window_started_at", "locked_until", "lockouts")
    list_filter = ("scope",)
    search_fields = ("key",)
    actions = ["unlock"]

    @admin.action(description="Unlock (forget the failed logins)")
    def unlock(self, request, queryset):
        count, _ = queryset.delete()
        self.message_user(request, f"Unlocked {count} entr{'y' if count == 1 else 'ies'}.", messages.SUCCESS)
