import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")

from django.core.asgi import get_asgi_application  # noqa: E402

from .otel import setup_otel  # noqa: E402

setup_otel()
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from deployments.gateway.moved import AppsMovedHTTP, AppsRefusedWebsocket  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .ws_origin import ExactOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Apps live on their own origin (the gateway process); /apps/ here only redirects there.
        # Static files come straight from the finders: one process to run, no collectstatic.
        "http": AppsMovedHTTP(ASGIStaticFilesHandler(django_asgi_app)),
        # MGX's exact origin (scheme, host and port): the apps origin shares the host name.
        "websocket": AppsRefusedWebsocket(ExactOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
