"""What is left of apps on MGX's own origin (Daphne): a permanent redirect to the apps origin.

Apps are served by the gateway process on MGX_APPS_URL; an old link or bookmark to
`<MGX>/apps/<slug>/...` gets 308 to the same path and query there (308 keeps the method and
body). Websockets under /apps/ are refused: nothing of an app runs on MGX's origin.
"""
from django.conf import settings


class AppsMovedHTTP:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/apps/"):
            return await self.app(scope, receive, send)
        target = settings.MGX_APPS_URL + (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        await send({"type": "http.response.start", "status": 308,
                    "headers": [(b"location", target.encode("latin-1")), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


class AppsRefusedWebsocket:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not scope["path"].startswith("/apps/"):
            return await self.app(scope, receive, send)
        await receive()
        await send({"type": "websocket.close", "code": 4404})
