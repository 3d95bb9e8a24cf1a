from django.urls import path

from . import internal_api

urlpatterns = [
    path("run", internal_api.run_state),
    path("run/cancelled", internal_api.cancelled),
    path("run/finish", internal_api.finish),
    path("events", internal_api.event),
    path("usage", internal_api.usage),
    path("usage/session", internal_api.session_usage),
    path("commit", internal_api.commit),
    path("changes", internal_api.changes),
    path("checkpoints", internal_api.checkpoints),
    path("checkpoints/latest", internal_api.checkpoint_latest),
    path("checkpoints/writes", internal_api.checkpoint_writes),
    path("exec", internal_api.exec_command),
    path("dev/start", internal_api.dev_start),
    path("dev", internal_api.dev_status),
    path("preview", internal_api.preview),
    path("logs", internal_api.logs),
    path("traces", internal_api.traces),
]
