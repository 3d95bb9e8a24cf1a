"""Included under /sessions/<slug>/ by studio.urls (which also serves one trace as a page of the
session, `traces/<trace_id>/`)."""
from django.urls import path

from . import views

urlpatterns = [
    path("traces/", views.traces, name="traces"),
    path("traces/token/rotate", views.token_rotate, name="traces_token_rotate"),
    path("traces/retention", views.retention_set, name="traces_retention"),
    path("logs/app/", views.otel_logs, name="otel_logs"),
]
