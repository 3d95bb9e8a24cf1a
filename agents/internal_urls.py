from django.urls import path

from . import internal_api

urlpatterns = [
    path("exec", internal_api.exec_command),
    path("dev/start", internal_api.dev_start),
    path("dev", internal_api.dev_status),
    path("preview", internal_api.preview),
    path("logs", internal_api.logs),
]
