from django.contrib import admin
from django.urls import include, path

from agents.views import model_settings, model_settings_test
from observability.views import mgx_telemetry
from studio import views

from . import api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("internal/agent/", include("agents.internal_urls")),
    path("otlp/", include("observability.otlp_urls")),
    path("admin/telemetry/", mgx_telemetry, name="admin_telemetry"),  # before the admin's catch-all
    path("admin/model/", model_settings, name="admin_model"),
    path("admin/model/test", model_settings_test, name="admin_model_test"),
    path("admin/", admin.site.urls),
    path("oauth2/", include("accounts.oauth_urls")),
    path(".well-known/", include("accounts.well_known_urls")),
    path("sessions/<slug:slug>/users/", include("accounts.app_users_urls")),
    path("accounts/", include("accounts.urls")),
    path("api/", api.urls()),
    path("", include("studio.urls")),
]
