from django.urls import path

from . import views

# Included under /sessions/<slug>/ by sessions_app.urls.
urlpatterns = [
    path("dev/panel", views.dev_panel, name="dev_panel"),
    path("dev/<str:action>", views.dev_action, name="dev_action"),
    path("logs/<slug:role>/download", views.logs_download, name="logs_download"),
]
