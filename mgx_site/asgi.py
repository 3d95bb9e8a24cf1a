import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from .otel import setup_otel  # noqa: E402

setup_otel()
django.setup(set_prefix=False)  # what get_asgi_application() does before making its handler

from core.asgi_handler import PooledThreadASGIHandler  # noqa: E402

django_asgi_app = PooledThreadASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from core.socket_limits import SocketLimit  # noqa: E402
from deployments.gateway.moved import AppsMovedHTTP, AppsRefusedWebsocket  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .ws_origin import ExactOriginValidator  # noqa: E402

mgx_application = ProtocolTypeRouter(
    {
        # Apps live on their own origin (the gateway process); /apps/ here only redirects there.
        # Static files come straight from the finders: one process to run, no collectstatic.
        "http": AppsMovedHTTP(ASGIStaticFilesHandler(django_asgi_app)),
        # MGX's exact origin (scheme, host and port): the apps origin shares the host name.
        # Then at most MGX_MAX_SOCKETS_PER_USER open sockets per person, counted in Redis.
        "websocket": AppsRefusedWebsocket(ExactOriginValidator(AuthMiddlewareStack(
            SocketLimit(URLRouter(websocket_urlpatterns))))),
    }
)


# What Daphne's internal listener (MGX_INTERNAL_HOST:MGX_INTERNAL_PORT, on the Docker bridge)
# answers. Agent containers use the internal agent API, which the public port never serves. App
# containers fetch the provider's machine endpoints (token, JWKS, userinfo, discovery): those
# answer on both listeners, since scripts and apps elsewhere use them on the public URL too.
# Apps send their telemetry to the OTLP receiver (/otlp/) there, too. Everything else (pages,
# admin, the API) is 404 on the internal listener.
INTERNAL_ONLY = ("/internal/agent/",)
INTERNAL_ALSO = ("/oauth2/token/", "/oauth2/.well-known/", "/oauth2/userinfo/", "/oauth2/revoke_token/",
                 "/oauth2/introspect/", "/.well-known/", "/otlp/")


def internal_split(app, *, internal_port: int, internal_only: tuple[str, ...] = INTERNAL_ONLY,
                   internal_also: tuple[str, ...] = INTERNAL_ALSO):
    """Route by the listener a request arrived on (scope["server"]): the internal port serves
    `internal_only` and `internal_also`, the public port everything but `internal_only`."""

    async def split(scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)
        server = scope.get("server") or (None, None)
        internal = server[1] == internal_port
        path = scope.get("path", "")
        if path.startswith(internal_only):
            served = internal
        elif internal:
            served = scope["type"] == "http" and path.startswith(internal_also)
        else:
            served = True
        if served:
            return await app(scope, receive, send)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            return await send({"type": "websocket.close", "code": 4404})
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Not found.\n"})

    return split


application = internal_split(mgx_application, internal_port=settings.MGX_INTERNAL_PORT)

# Everything loaded so far (Django, the apps, the URL conf and the views it imports, otherwise
# loaded by the first request; OpenTelemetry) lives as long as the process: move it out of the
# collector's sight. Without this every full collection walked all of it, 125-200 ms each,
# about every 1.5 s under load, and every event socket stalled that long mid-fan-out
# (bench/load.py, 200 viewers of one app: p99 170-330 ms, 58 ms with it).
get_resolver().url_patterns
gc.freeze()
