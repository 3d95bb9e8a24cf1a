from django.urls import include, path

from workspaces import api as workspaces_api

from . import api

urlpatterns = [
    path("sessions", api.sessions, name="api_sessions"),
    path("sessions/<slug:slug>", api.session_detail, name="api_session_detail"),
    path("workspaces/<slug:slug>/entries", workspaces_api.entries, name="api_workspace_entries"),
    path("workspaces/<slug:slug>/files", workspaces_api.files, name="api_workspace_files"),
    path("", include("deployments.api_urls")),
]
