"""The app databases in the Django admin: each `AppDatabase` row, read-only (MGX names and makes
the database; the row is a record of that, not a setting), beside its app (name, owner,
framework, the session page), and an admin page listing the database's collections with links
to the app's Database tab."""
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.errors import MgxError

from . import selectors
from .models import AppDatabase


def database_tab_url(app, collection: str = "") -> str:
    query = {"tab": "database", **({"collection": collection} if collection else {})}
    return reverse("studio:detail", args=[app.slug]) + "?" + urlencode(query)


@admin.register(AppDatabase)
class AppDatabaseAdmin(admin.ModelAdmin):
    list_display = ("name", "app_name", "app_owner", "app_framework", "provisioned_at", "collections_link")
    list_select_related = ("app", "app__owner")
    readonly_fields = ("app", "name", "app_name", "app_owner", "app_framework", "provisioned_at", "created_at",
                       "collections_link")

    @admin.display(description="app", ordering="app__name")
    def app_name(self, obj):
        return format_html('<a href="{}">{}</a> <code>{}</code>', reverse("studio:detail", args=[obj.app.slug]),
                           obj.app.name, obj.app.slug)

    @admin.display(description="owner", ordering="app__owner__username")
    def app_owner(self, obj):
        return obj.app.owner.get_username()

    @admin.display(description="framework")
    def app_framework(self, obj):
        return obj.app.get_framework_display()

    @admin.display(description="collections")
    def collections_link(self, obj):
        return format_html('<a href="{}">Collections</a> · <a href="{}">Database tab</a>',
                           reverse("admin:databases_appdatabase_collections", args=[obj.pk]),
                           database_tab_url(obj.app))

    def get_urls(self):
        own = [path("<int:pk>/collections/", self.admin_site.admin_view(self.collections_view),
                    name="databases_appdatabase_collections")]
        return own + super().get_urls()

    def collections_view(self, request, pk):
        row = get_object_or_404(AppDatabase.objects.select_related("app", "app__owner"), pk=pk)
        if not self.has_view_permission(request, row):
            raise PermissionDenied
        error, collections = None, []
        try:
            collections = selectors.collections_list(app=row.app)
        except MgxError as exc:
            error = str(exc)
        for c in collections:
            c["url"] = database_tab_url(row.app, c["name"]) if c["browsable"] else ""
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": row,
                   "title": f"Collections of {row.name}", "row": row, "collections": collections, "error": error,
                   "tab_url": database_tab_url(row.app)}
        return TemplateResponse(request, "admin/databases/collections.html", context)
