"""Dev environments in the Django admin, with seed 002's sandbox operations as actions (the same
services as `POST /api/sandbox/destroy` and `/destroy_all`)."""
from django.contrib import admin, messages

from . import services
from .models import DevEnvironment


@admin.register(DevEnvironment)
class DevEnvironmentAdmin(admin.ModelAdmin):
    list_display = ("app", "phase", "message", "host_port", "started_at", "ready_at", "updated_at")
    list_filter = ("phase",)
    search_fields = ("app__slug", "app__name", "app__owner__username")
    # What Docker runs is the truth; these rows follow it, so nobody edits them by hand.
    readonly_fields = ("app", "phase", "message", "step", "container_id", "host_port", "last_log", "started_at",
                       "ready_at", "updated_at")
    actions = ["stop_selected", "stop_idle"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop the selected apps' containers (sandbox destroy)", permissions=["change"])
    def stop_selected(self, request, queryset):
        stopped, failed = [], []
        for dev in queryset.select_related("app"):
            try:
                services.dev_stop(app=dev.app, reason="Stopped by an MGX admin")
                stopped.append(dev.app.slug)
            except services.DevError as exc:
                failed.append(f"{dev.app.slug}: {exc}")
        if stopped:
            self.message_user(request, f"Stopped: {', '.join(stopped)}.", messages.SUCCESS)
        for line in failed:
            self.message_user(request, f"Not stopped — {line}", messages.ERROR)

    @admin.action(description="Stop every idle dev container (whatever is selected)", permissions=["change"])
    def stop_idle(self, request, queryset):
        try:
            stopped = services.dev_reap_idle()
        except services.DevError as exc:
            self.message_user(request, f"Nothing stopped: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Stopped {len(stopped)} idle dev container{'s' if len(stopped) != 1 else ''}"
                          + (f": {', '.join(stopped)}." if stopped else "."), messages.SUCCESS)
