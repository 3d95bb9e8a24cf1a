from django.urls import path

from . import prod_views, views

# Included under /sessions/<slug>/ by studio.urls.
urlpatterns = [
    path("dev/panel", views.dev_panel, name="dev_panel"),
    path("dev/page-report", views.dev_page_report, name="dev_page_report"),
    path("dev/<str:action>", views.dev_action, name="dev_action"),
    path("logs/<slug:role>/download", views.logs_download, name="logs_download"),
    path("prod/panel", prod_views.prod_panel, name="prod_panel"),
    path("prod/releases/<int:release_id>/rollback", prod_views.prod_rollback, name="prod_rollback"),
    path("prod/env/set", prod_views.prod_env_set, name="prod_env_set"),
    path("prod/env/<str:name>/delete", prod_views.prod_env_delete, name="prod_env_delete"),
    path("prod/<str:action>", prod_views.prod_action, name="prod_action"),
]
