"""`/.well-known/openid-configuration` at the site root: the issuer is MGX_PUBLIC_URL, and OIDC
discovery looks for the document at `<issuer>/.well-known/openid-configuration`. The same
document is served at `/oauth2/.well-known/openid-configuration`."""
from django.urls import re_path

from .oauth_views import DiscoveryView

urlpatterns = [
    re_path(r"^openid-configuration/?$", DiscoveryView.as_view(), name="oidc_discovery_root"),
]
