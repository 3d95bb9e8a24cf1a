from django.urls import path

from . import views

urlpatterns = [
    path("me", views.api_me, name="api_me"),
]
