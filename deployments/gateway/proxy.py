"""The builtin gateway: an ASGI reverse proxy inside Daphne for /apps/<slug>/dev|prod/...

HTTP bodies stream both ways, websockets (HMR) are passed through, X-Forwarded-* are set and
the prefix is kept. aiohttp's pooled client carries the upstream side (measured several times
faster than httpx here, see DESIGN.md). The route table comes from Redis and is cached for a
second per process, so a route set by a Celery task is live almost at once.

Dev routes are private: only the app's owner (or an MGX admin), recognised by the MGX session
cookie, gets through; the decision is cached briefly per (session, app). Prod routes are public.
"""
from __future__ import annotations

import asyncio
import html
import json
import re
import time
from http.cookies import SimpleCookie

import aiohttp
from channels.db import database_sync_to_async
from django.conf import settings

from .builtin import CHANGED_CHANNEL, ROUTES_KEY

APP_PATH = re.compile(r"^/apps/(?P<slug>[a-z0-9-]+)/(?P<stage>dev|prod)(?:/|$)")
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)
WS_SKIP = HOP_BY_HOP | {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol"}
ROUTE_TTL = 1.0
AUTH_TTL = 10.0
SEEN_EVERY = 10.0
SEEN_KEY = "mgx:dev:seen:{slug}"


class _State:
    """Per-process caches; the aiohttp session belongs to the running event loop."""

    def __init__(self):
        self.session: aiohttp.ClientSession | None = None
        self.redis = None
        self.routes: dict[str, str] = {}
        self.routes_at = 0.0
        self.auth: dict[tuple[str, str], tuple[float, str]] = {}
        self.seen: dict[str, float] = {}
        self.listener: asyncio.Task | None = None

    async def client(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512, limit_per_host=128, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self.session

    async def redis_client(self):
        if self.redis is None:
            import redis.asyncio as aioredis

            self.redis = aioredis.Redis.from_url(settings.MGX_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        return self.redis

    async def _listen(self):
        """Forget the cached table whenever a route changes, so a restarted container's new
        port is used by the very next request, not up to a TTL later."""
        pubsub = (await self.redis_client()).pubsub()
        try:
            await pubsub.subscribe(CHANGED_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self.routes_at = 0.0
        finally:
            self.routes_at = 0.0
            await pubsub.aclose()

    async def upstream(self, route_id: str, *, fresh: bool = False) -> str | None:
        if self.listener is None or self.listener.done():
            self.listener = asyncio.ensure_future(self._listen())  # (re)started after a Redis outage
        now = time.monotonic()
        # `fresh`: the cached answer just failed us (no route, or its port refused): reread,
        # but at most ten times a second so a flood of bad URLs cannot hammer Redis.
        if now - self.routes_at > (0.1 if fresh else ROUTE_TTL):
            try:
                raw = await (await self.redis_client()).hgetall(ROUTES_KEY)
                self.routes = {k.decode(): json.loads(v)["upstream"] for k, v in raw.items()}
                self.routes_at = now
            except Exception:
                pass  # Redis away: keep serving the routes we knew
        return self.routes.get(route_id)

    async def mark_seen(self, slug: str) -> None:
        now = time.monotonic()
        if now - self.seen.get(slug, 0) < SEEN_EVERY:
            return
        self.seen[slug] = now
        try:
            await (await self.redis_client()).set(SEEN_KEY.format(slug=slug), int(time.time()), ex=7 * 24 * 3600)
        except Exception:
            pass


STATE = _State()


def _header(scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _session_key(scope) -> str:
    cookie = SimpleCookie()
    try:
        cookie.load(_header(scope, b"cookie"))
    except Exception:
        return ""
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel else ""


@database_sync_to_async
def _decide(session_key: str, slug: str) -> str:
    """'ok', 'login' (nobody logged in) or 'denied' (logged in, not theirs, or no such app)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from sessions_app.models import App

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from accounts.services import SESSION_KEY

    session = SessionStore(session_key=session_key) if session_key else {}
    user_id = session.get("_auth_user_id")
    if not user_id:
        return "login"
    # A login through the provider binds a token to the session; once it is revoked (logout
    # elsewhere, an admin) or expired, the session no longer opens previews. MGX's own pages
    # refresh an expired token, so the login page sends the owner straight back here.
    binding = session.get(SESSION_KEY)
    if binding and not get_access_token_model().objects.filter(
        pk=binding.get("access_token_id"), user_id=user_id, expires__gt=timezone.now()
    ).exists():
        return "login"
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    app = App.objects.filter(slug=slug).first()
    return "ok" if (user and app and app.can_be_used_by(user)) else "denied"


async def _authorize(scope, slug: str, stage: str) -> str:
    if stage == "prod":
        return "ok"
    key = _session_key(scope)
    now = time.monotonic()
    cached = STATE.auth.get((key, slug))
    if cached and now - cached[0] < AUTH_TTL:
        return cached[1]
    verdict = await _decide(key, slug)
    if len(STATE.auth) > 10_000:
        STATE.auth.clear()
    STATE.auth[(key, slug)] = (now, verdict)
    return verdict


def _forward_headers(scope, skip=HOP_BY_HOP) -> list[tuple[str, str]]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k.lower() not in skip]
    client = (scope.get("client") or ("", 0))[0]
    prior = _header(scope, b"x-forwarded-for")
    host = _header(scope, b"host")
    headers.append(("X-Forwarded-For", f"{prior}, {client}" if prior else client))
    headers.append(("X-Forwarded-Proto", "https" if scope.get("scheme") in ("https", "wss") else "http"))
    if host:
        headers.append(("X-Forwarded-Host", host))
        headers.append(("Host", host))  # apps build absolute URLs from the public host
    return headers


async def _page(send, status: int, title: str, body_html: str, extra_headers=()) -> None:
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · MGX</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1c2230;display:grid;place-items:center;min-height:90vh;margin:0}}
.card{{background:#fff;border:1px solid #e3e6eb;border-radius:12px;padding:32px 36px;max-width:520px;box-shadow:0 1px 3px rgba(16,24,40,.08)}}
h1{{font-size:20px;margin:0 0 8px}}p{{color:#4b5563}}a.btn{{display:inline-block;background:#4f46e5;color:#fff;padding:9px 16px;border-radius:8px;text-decoration:none;font-weight:600}}
code{{background:#f0f1f4;padding:1px 5px;border-radius:4px}}</style></head><body><div class="card">{body_html}</div></body></html>"""
    data = doc.encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode()),
               (b"cache-control", b"no-store"), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _not_running(send, slug: str, stage: str) -> None:
    safe = html.escape(slug)
    if stage == "dev":
        body = (f"<h1>The dev server of <code>{safe}</code> is not running</h1>"
                f"<p>Start it from the session page; the preview appears here once it is ready.</p>"
                f'<p><a class="btn" href="/sessions/{safe}/?tab=dev" target="_top">Open {safe} and start it</a></p>')
    else:
        body = (f"<h1><code>{safe}</code> is not deployed</h1>"
                f"<p>There is no production release running for this app right now.</p>")
    await _page(send, 502, "Not running", body)


class GatewayHTTP:
    """ASGI app for HTTP under /apps/; everything else goes to `fallback` (Django)."""

    def __init__(self, fallback):
        self.fallback = fallback

    async def __call__(self, scope, receive, send):
        match = APP_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            return await self.fallback(scope, receive, send)
        slug, stage = match["slug"], match["stage"]
        verdict = await _authorize(scope, slug, stage)
        if verdict == "login":
            target = html.escape(scope["path"])
            return await _page(send, 302, "Log in", f'<p><a href="/accounts/login/?next={target}">Log in</a></p>',
                               [(b"location", f"/accounts/login/?next={scope['path']}".encode())])
        if verdict == "denied":
            return await _page(send, 404, "Not found", "<h1>Not found</h1><p>There is no such app, or it is not yours.</p>")
        route_id = f"{slug}-{stage}"
        upstream = await STATE.upstream(route_id) or await STATE.upstream(route_id, fresh=True)
        if upstream is None:
            return await _not_running(send, slug, stage)
        if stage == "dev":
            asyncio.ensure_future(STATE.mark_seen(slug))
        await self._proxy(scope, receive, send, upstream, slug, stage)

    async def _proxy(self, scope, receive, send, upstream, slug, stage):
        path = scope.get("raw_path") or scope["path"].encode()
        target = path.decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        first = await receive()
        body = first.get("body", b"")
        if first.get("more_body"):
            async def stream(head=body):
                yield head
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    yield message.get("body", b"")
                    if not message.get("more_body"):
                        return
            data = stream()
        else:
            data = body or None
        client = await STATE.client()
        headers = _forward_headers(scope)
        started = False
        for attempt in (1, 2):
            try:
                async with client.request(scope["method"], f"http://{upstream}{target}", headers=headers, data=data,
                                          allow_redirects=False) as response:
                    out = [(k, v) for k, v in response.raw_headers
                           if k.lower() not in (b"connection", b"keep-alive", b"transfer-encoding")]
                    await send({"type": "http.response.start", "status": response.status, "headers": out})
                    started = True
                    async for chunk in response.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
                    return
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError):
                if started:
                    return  # the response was cut off mid-way; nothing more can be said
                # The container may have been restarted on another port a moment ago.
                moved = await STATE.upstream(f"{slug}-{stage}", fresh=True)
                if attempt == 1 and moved and moved != upstream and not hasattr(data, "__anext__"):
                    upstream = moved
                    continue
                return await _not_running(send, slug, stage)


def _same_origin(scope) -> bool:
    """Another site must not open a dev websocket with the owner's cookie (CSWSH)."""
    origin = _header(scope, b"origin")
    if not origin:
        return True  # not a browser
    origin_host = origin.split("://", 1)[-1].split("/", 1)[0]
    return origin_host == _header(scope, b"host")


class GatewayWebsocket:
    """Websockets under /apps/ (HMR) are relayed frame by frame; others go to `fallback` (Channels)."""

    def __init__(self, fallback):
        self.fallback = fallback

    async def __call__(self, scope, receive, send):
        match = APP_PATH.match(scope["path"])
        if match is None:
            return await self.fallback(scope, receive, send)
        slug, stage = match["slug"], match["stage"]
        connect = await receive()
        assert connect["type"] == "websocket.connect"
        allowed = await _authorize(scope, slug, stage) == "ok" and (stage == "prod" or _same_origin(scope))
        route_id = f"{slug}-{stage}"
        upstream = (await STATE.upstream(route_id) or await STATE.upstream(route_id, fresh=True)) if allowed else None
        if upstream is None:
            await send({"type": "websocket.close", "code": 4404})
            return
        url = f"ws://{upstream}{scope['path']}"
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        client = await STATE.client()
        try:
            upstream_ws = await client.ws_connect(url, headers=_forward_headers(scope, WS_SKIP),
                                                  protocols=scope.get("subprotocols") or (), autoping=True, max_msg_size=0)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            await send({"type": "websocket.close", "code": 4502})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream_ws.protocol})
        if stage == "dev":
            asyncio.ensure_future(STATE.mark_seen(slug))

        async def client_to_upstream():
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    await upstream_ws.close()
                    return
                if message.get("text") is not None:
                    await upstream_ws.send_str(message["text"])
                elif message.get("bytes") is not None:
                    await upstream_ws.send_bytes(message["bytes"])

        async def upstream_to_client():
            async for message in upstream_ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await send({"type": "websocket.send", "text": message.data})
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await send({"type": "websocket.send", "bytes": message.data})
                else:
                    break
            await send({"type": "websocket.close", "code": upstream_ws.close_code or 1000})

        tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream_ws.close()
