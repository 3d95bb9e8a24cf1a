from django.urls import path

from . import views

app_name = "sessions_app"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("system-status/", views.system_status, name="system_status"),
]
