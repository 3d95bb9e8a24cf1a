"""Which pages may open MGX's websockets.

Channels' AllowedHostsOriginValidator compares host names only, so a page on the apps origin
(`http://<MGX host>:8080`, where untrusted app code runs) could open a socket that the
browser authenticates with MGX's session cookie. Here the Origin must match scheme, host and
port exactly: MGX_PUBLIC_URL, or the origin of the host the request came in on (when that
host is in ALLOWED_HOSTS), with its port. No Origin at all is refused too: these sockets are
authenticated by a cookie, and only browsers send one; a script has no reason to omit it.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int] | None:
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower().strip("[]"), port or DEFAULT_PORTS[scheme]


def parse_origin(value: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(value)
        return _origin(parts.scheme, parts.hostname or "", parts.port)
    except ValueError:  # a port that is not a number
        return None


def trusted_origins(scope) -> set[tuple[str, str, int]]:
    trusted = {parse_origin(settings.MGX_PUBLIC_URL)}
    headers = dict(scope.get("headers") or [])
    host_header = headers.get(b"host", b"").decode("latin-1")
    host, port = split_domain_port(host_header)
    if host and validate_host(host, settings.ALLOWED_HOSTS):
        scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
        try:
            trusted.add(_origin(scheme, host, int(port) if port else None))
        except ValueError:
            pass
    trusted.discard(None)
    return trusted


def origin_allowed(scope) -> bool:
    raw = dict(scope.get("headers") or []).get(b"origin")
    if raw is None:
        return False
    origin = parse_origin(raw.decode("latin-1"))
    return origin is not None and origin in trusted_origins(scope)


class ExactOriginValidator:
    """ASGI middleware for the websocket router: refuses the handshake (403) unless
    `origin_allowed`."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
