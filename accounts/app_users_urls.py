"""`/sessions/<slug>/users/`: the people who may log into one app. Included with the slug from
mgx_site.urls; the session page embeds the list as its Users tab."""
from django.urls import path

from . import views

app_name = "app_users"

urlpatterns = [
    path("", views.app_users, name="list"),
    path("new", views.app_user_create, name="create"),
    path("accounts", views.app_user_account, name="account"),
    path("<int:member_id>/active", views.app_user_active, name="active"),
    path("<int:member_id>/password", views.app_user_password, name="password"),
    path("signup", views.app_signup_toggle, name="signup"),
    path("client-secret", views.app_client_secret, name="client_secret"),
]
