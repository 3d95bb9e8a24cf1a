from django.urls import path

from . import receiver

urlpatterns = [
    path("v1/traces", receiver.traces, name="otlp_traces"),
    path("v1/logs", receiver.logs, name="otlp_logs"),
]
