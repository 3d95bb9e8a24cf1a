"""`/oauth2/`: the provider. DOT's views under DOT's namespace (its code reverses those names),
MGX's own additions under `mgx_oauth`. DOT's application-management and device-flow views are
not mounted: clients are managed in the Django admin and by `app_client_register`."""
from django.urls import include, path, re_path
from oauth2_provider import views as dot

from . import oauth_views

provider_patterns = [
    path("authorize/", oauth_views.AuthorizeView.as_view(), name="authorize"),
    path("token/", dot.TokenView.as_view(), name="token"),
    path("revoke_token/", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth_views.IntrospectView.as_view(), name="introspect"),
    re_path(r"^\.well-known/openid-configuration/?$", oauth_views.DiscoveryView.as_view(), name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
    path("logout/", oauth_views.LogoutView.as_view(), name="rp-initiated-logout"),
]

mgx_patterns = [
    path("apps/<slug:slug>/login/", oauth_views.app_login, name="app_login"),
    path("apps/<slug:slug>/signup/", oauth_views.app_signup, name="app_signup"),
    path("signup/", oauth_views.signup_api, name="signup_api"),
]

urlpatterns = [
    path("", include((provider_patterns, "oauth2_provider"))),
    path("", include((mgx_patterns, "mgx_oauth"))),
]
