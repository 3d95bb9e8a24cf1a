from django.urls import path

from . import views

# Included under /sessions/<slug>/ by studio.urls.
urlpatterns = [
    path("agent/messages", views.message, name="agent_message"),
    path("agent/fix", views.fix, name="agent_fix"),
    path("agent/runs/<str:run_id>/resume", views.resume, name="agent_resume"),
    path("agent/runs/<str:run_id>/cancel", views.cancel, name="agent_cancel"),
]
