from django.urls import path

from . import api

urlpatterns = [
    path("apps/<slug:slug>/dev", api.dev, name="api_app_dev"),
    path("apps/<slug:slug>/exec", api.exec_command, name="api_app_exec"),
]
