"""Included under /sessions/<slug>/ by sessions_app.urls."""
from django.urls import path

from . import views

urlpatterns = [
    path("traces/", views.traces, name="traces"),
    path("traces/token/rotate", views.token_rotate, name="traces_token_rotate"),
    path("traces/retention", views.retention_set, name="traces_retention"),
    path("traces/<str:trace_id>/", views.trace, name="trace"),
    path("logs/app/", views.otel_logs, name="otel_logs"),
]
