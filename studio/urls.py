"""The pages of the top floor, and under /sessions/<slug>/ every app's own endpoints of the
session page."""
from django.urls import include, path

from . import views

app_name = "studio"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("system-status/", views.system_status, name="system_status"),
    path("all-apps/", views.all_apps, name="all_apps"),
    path("sessions/<slug:slug>/badges", views.session_badges, name="badges"),
    path("sessions/<slug:slug>/delete-preview", views.session_delete_preview, name="delete_preview"),
    path("sessions/new/", views.session_new, name="new"),
    path("sessions/<slug:slug>/", views.session_detail, name="detail"),
    path("sessions/<slug:slug>/delete", views.session_delete, name="delete"),
    path("sessions/<slug:slug>/traces/<str:trace_id>/", views.trace_page, name="trace"),
    path("sessions/<slug:slug>/", include("workspaces.urls")),
    path("sessions/<slug:slug>/", include("deployments.urls")),
    path("sessions/<slug:slug>/", include("agents.urls")),
    path("sessions/<slug:slug>/", include("databases.urls")),
    path("sessions/<slug:slug>/", include("observability.urls")),
]
