from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.password_change, name="password_change"),
    path("profile/keys/", views.ssh_key_add, name="ssh_key_add"),
    path("profile/keys/<int:key_id>/delete/", views.ssh_key_delete, name="ssh_key_delete"),
    path("clients/", views.clients, name="clients"),
    path("clients/<str:client_id>/", views.client_detail, name="client_detail"),
    path("clients/<str:client_id>/secret", views.client_secret_rotate, name="client_secret"),
    path("clients/<str:client_id>/delete", views.client_delete, name="client_delete"),
]
