import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")

from django.core.asgi import get_asgi_application  # noqa: E402

from .otel import setup_otel  # noqa: E402

setup_otel()
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from deployments.gateway.proxy import GatewayHTTP, GatewayWebsocket  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .ws_origin import ExactOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # /apps/<slug>/dev|prod/ go to the app containers (builtin gateway); the rest is MGX.
        # Static files come straight from the finders: one process to run, no collectstatic.
        "http": GatewayHTTP(ASGIStaticFilesHandler(django_asgi_app)),
        "websocket": GatewayWebsocket(ExactOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
