"""The builtin gateway: an ASGI reverse proxy for /apps/<slug>/dev|prod/... on the apps origin.

It runs as its own process (`server.py`, uvicorn), never inside Daphne: nothing an app serves
shares MGX's origin. HTTP bodies stream both ways, websockets (HMR) are passed through, the
prefix is kept. aiohttp's pooled client carries the upstream side (measured several times
faster than httpx here: docs/architecture.md). The route table comes from Redis, cached per process
and dropped when a route changes (pub/sub), so no request pays a Redis round trip.

An app gets no credential of MGX: MGX's session and CSRF cookies and a bearer token issued to
MGX's own client are removed from what is forwarded, X-Forwarded-* are the gateway's own, and
an app cannot set cookies under MGX's cookie names.

Dev routes are private: only the app's owner (or an MGX admin), recognised by the MGX session
cookie (browsers send it to every port of the host), gets through; the decision is cached per
(session, app) for MGX_GATEWAY_AUTH_TTL and dropped at once on logout or token revocation
(AUTH_CHANNEL). Dev responses may be framed only by MGX's pages. Prod routes are public.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import html
import json
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import quote

import aiohttp
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from accounts.selectors import login_token
from sessions_app.models import App

from . import route_id as _route_id
from .builtin import AUTH_CHANNEL, AUTH_EPOCH_KEY, CHANGED_CHANNEL, ROUTES_KEY

APP_PATH = re.compile(r"^/apps/(?P<slug>[a-z0-9-]+)/(?P<stage>dev|prod)(?:/|$)")
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)
WS_SKIP = HOP_BY_HOP | {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol"}
ROUTE_TTL = 1.0  # only while the change listener is not subscribed (Redis away or starting)
ROUTE_TTL_LISTENING = 60.0  # subscribed: changes are pushed; this only bounds a lost message
SEEN_EVERY = 10.0
# The largest websocket message relayed from an app (uvicorn's own limit the other way, from
# browsers, is the same 16 MiB): a bigger one closes that socket. Unbounded, one app's code could
# make the gateway, which every app's preview goes through, hold a message of any size.
WS_MAX_MESSAGE = 16 * 1024 * 1024
SEEN_KEY = "mgx:dev:seen:{slug}"


class _State:
    """Per-process caches; the aiohttp session belongs to the running event loop."""

    def __init__(self):
        self.session: aiohttp.ClientSession | None = None
        self.redis = None
        self.routes: dict[str, str] = {}
        self.routes_at = 0.0
        # (session key, slug) -> (decided at, verdict, access token id behind the session, auth epoch)
        self.auth: dict[tuple[str, str], tuple[float, str, int | None, bytes]] = {}
        self.seen: dict[str, float] = {}
        self.listener: asyncio.Task | None = None
        # Decisions are cached only while invalidations can reach us: a logout published while
        # nobody listened must not leave an open preview behind.
        self.listening = False

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
        port is used by the very next request, not up to a TTL later; forget a session's dev
        decisions the moment it logs out or its token is revoked."""
        import redis.asyncio as aioredis

        # Its own connection without a read timeout (a quiet channel is normal); the health
        # check pings notice a dead Redis instead.
        listener = aioredis.Redis.from_url(settings.MGX_REDIS_URL, socket_connect_timeout=2, health_check_interval=15)
        pubsub = listener.pubsub()
        try:
            await pubsub.subscribe(CHANGED_CHANNEL, AUTH_CHANNEL)
            async for message in pubsub.listen():
                kind = message.get("type")
                if kind == "subscribe" and message.get("data") == 2:
                    self.listening = True
                    self.routes_at = 0.0  # changes made before we listened
                    self.auth.clear()
                elif kind == "message":
                    if message["channel"] == AUTH_CHANNEL.encode():
                        self.forget(message["data"].decode(errors="replace"))
                    else:
                        self.routes_at = 0.0
        finally:
            self.listening = False
            self.routes_at = 0.0
            self.auth.clear()
            await pubsub.aclose()
            await listener.aclose()

    async def auth_epoch(self) -> bytes | None:
        """The invalidation counter (AUTH_EPOCH_KEY); None when Redis does not answer, and then
        no decision is cached."""
        try:
            return await (await self.redis_client()).get(AUTH_EPOCH_KEY) or b"0"
        except Exception:
            return None

    def forget(self, what: str) -> None:
        """`session:<key>` or `token:<access token id>`: drop the cached dev decisions it backs."""
        kind, _, value = what.partition(":")
        if kind == "session":
            stale = [key for key in self.auth if key[0] == value]
        elif kind == "token":
            stale = [key for key, entry in self.auth.items() if str(entry[2]) == value]
        else:
            stale = list(self.auth)
        for key in stale:
            self.auth.pop(key, None)

    def ensure_listener(self) -> None:
        if self.listener is None or self.listener.done():
            self.listener = asyncio.ensure_future(self._listen())  # (re)started after a Redis outage

    async def upstream(self, route_id: str, *, fresh: bool = False) -> str | None:
        self.ensure_listener()
        now = time.monotonic()
        # `fresh`: the cached answer just failed us (no route, or its port refused): reread,
        # but at most ten times a second so a flood of bad URLs cannot hammer Redis.
        if now - self.routes_at > (0.1 if fresh else ROUTE_TTL_LISTENING if self.listening else ROUTE_TTL):
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
def _decide(session_key: str, slug: str) -> tuple[str, int | None]:
    """'ok', 'login' (nobody logged in) or 'denied' (logged in, not theirs, or no such app),
    with the id of the access token the session's login holds (what a revocation names)."""
    session = SessionStore(session_key=session_key) if session_key else {}
    user_id = session.get("_auth_user_id")
    if not user_id:
        return "login", None
    # A login through the provider binds a token to the login session; once it is revoked
    # (logout elsewhere, an admin) or expired, the login session no longer opens previews. MGX's
    # own pages refresh an expired token, so the login page sends the owner straight back here.
    bound = login_token(session=session, user_id=user_id)
    token_id = bound.token_id
    if bound.state not in ("unbound", "live"):
        return "login", token_id
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    app = App.objects.filter(slug=slug).first()
    return ("ok" if (user and app and app.can_be_used_by(user)) else "denied"), token_id


async def _authorize(scope, slug: str, stage: str) -> str:
    if stage == "prod":
        return "ok"
    STATE.ensure_listener()
    key = _session_key(scope)
    now = time.monotonic()
    # The pushed message may still be on its way when the next request arrives; the epoch
    # (bumped before every publish) is read on each dev request, so a logout or a revocation
    # closes the preview for the very next request. Dev only: prod does no Redis call.
    epoch = await STATE.auth_epoch()
    cached = STATE.auth.get((key, slug))
    if cached and epoch is not None and cached[3] == epoch and now - cached[0] < settings.MGX_GATEWAY_AUTH_TTL:
        return cached[1]
    verdict, token_id = await _decide(key, slug)
    if STATE.listening and epoch is not None:
        if len(STATE.auth) > 10_000:
            STATE.auth.clear()
        STATE.auth[(key, slug)] = (now, verdict, token_id, epoch)
    return verdict


class _Names:
    """MGX's cookie names and first-party client id, read once settings are configured."""

    def __init__(self):
        self.cookies: frozenset[str] | None = None

    def load(self):
        self.cookies = frozenset({settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME})
        self.cookie_bytes = tuple(name.encode() for name in self.cookies)
        self.client_id = settings.MGX_FIRST_PARTY_CLIENT_ID
        self.mgx_origin = settings.MGX_ORIGIN
        self.login = f"{settings.MGX_PUBLIC_URL}/accounts/login/"
        self.public = settings.MGX_PUBLIC_URL
        self.apps = settings.MGX_APPS_URL
        return self


NAMES = _Names()


def _names() -> _Names:
    return NAMES if NAMES.cookies is not None else NAMES.load()


def _strip_cookies(value: bytes) -> bytes:
    """The Cookie header without MGX's cookies; the app's own cookies are left exactly as sent."""
    names = _names()
    if not any(name in value for name in names.cookie_bytes):
        return value  # the common case costs one substring search per name
    kept = [part for part in value.split(b";") if part.split(b"=", 1)[0].strip().decode("latin-1") not in names.cookies]
    return b";".join(kept).strip()


def _is_mgx_bearer(value: bytes) -> bool:
    """A bearer JWT issued to MGX's own client: whoever holds it acts as the user on MGX. Read
    without verifying the signature: it only decides to drop the header, never to trust it."""
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    parts = token.strip().split(b".")
    if len(parts) != 3:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return False
    if not isinstance(claims, dict):
        return False
    mine = _names().client_id
    aud = claims.get("aud")
    return claims.get("client_id") == mine or aud == mine or (isinstance(aud, list) and mine in aud)


def _forward_headers(scope, skip=HOP_BY_HOP) -> list[tuple[bytes, bytes]]:
    headers = []
    for key, value in scope["headers"]:
        key = key.lower()
        if key in skip or key.startswith(b"x-forwarded-") or key == b"forwarded":
            continue  # the client's own X-Forwarded-* would be believed by the app: ours only
        if key == b"cookie":
            value = _strip_cookies(value)
            if not value:
                continue
        elif key == b"authorization" and _is_mgx_bearer(value):
            continue
        headers.append((key.decode("latin-1"), value.decode("latin-1")))
    client = (scope.get("client") or ("", 0))[0]
    host = _header(scope, b"host")
    headers.append(("X-Forwarded-For", client))
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
                f'<p><a class="btn" href="{html.escape(_names().public)}/sessions/{safe}/?tab=dev" target="_top">Open {safe} and start it</a></p>')
    else:
        body = (f"<h1><code>{safe}</code> is not deployed</h1>"
                f"<p>There is no production release running for this app right now.</p>")
    await _page(send, 502, "Not running", body)


_FRAME_ANCESTORS = re.compile(rb"(^|;)\s*frame-ancestors[^;]*", re.IGNORECASE)


def _response_headers(raw_headers, stage: str) -> list[tuple[bytes, bytes]]:
    """What goes back to the browser: never a cookie under MGX's names (an app must not
    replace MGX's session or CSRF cookie); on dev, framing by MGX's pages only."""
    names = _names()
    out = []
    for key, value in raw_headers:
        lower = key.lower()
        if lower in (b"connection", b"keep-alive", b"transfer-encoding"):
            continue
        if lower == b"set-cookie" and value.split(b"=", 1)[0].strip().decode("latin-1") in names.cookies:
            continue
        if stage == "dev":
            if lower == b"x-frame-options":
                continue
            if lower == b"content-security-policy":
                value = _FRAME_ANCESTORS.sub(b"", value).strip(b"; ")
                if not value:
                    continue
        out.append((key, value))
    if stage == "dev":
        out.append((b"content-security-policy", f"frame-ancestors {names.mgx_origin}".encode()))
    return out


def _same_origin(scope) -> bool:
    """Another site must not open a dev websocket with the owner's cookie (CSWSH)."""
    origin = _header(scope, b"origin")
    if not origin:
        return True  # not a browser
    origin_host = origin.split("://", 1)[-1].split("/", 1)[0]
    return origin_host == _header(scope, b"host")


class Gateway:
    """The ASGI app of the gateway process: HTTP and websockets under /apps/, nothing else."""

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            return await self.http(scope, receive, send)
        if kind == "websocket":
            return await self.websocket(scope, receive, send)
        if kind == "lifespan":
            return await self.lifespan(scope, receive, send)

    async def lifespan(self, scope, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _names()
                STATE.ensure_listener()  # subscribed before the first dev decision is cached
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if STATE.session is not None:
                    await STATE.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, receive, send):
        match = APP_PATH.match(scope["path"])
        if match is None:
            return await _page(send, 404, "Not found", "<h1>Not found</h1><p>Apps live under <code>/apps/&lt;name&gt;/dev/</code> and <code>/prod/</code>.</p>")
        slug, stage = match["slug"], match["stage"]
        verdict = await _authorize(scope, slug, stage)
        if verdict == "login":
            names = _names()
            back = names.apps + scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            target = f"{names.login}?next={quote(back, safe='')}"
            return await _page(send, 302, "Log in", f'<p><a href="{html.escape(target)}">Log in</a></p>',
                               [(b"location", target.encode())])
        if verdict == "denied":
            return await _page(send, 404, "Not found", "<h1>Not found</h1><p>There is no such app, or it is not yours.</p>")
        route_id = _route_id(slug=slug, stage=stage)
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
                    await send({"type": "http.response.start", "status": response.status,
                                "headers": _response_headers(response.raw_headers, stage)})
                    started = True
                    async for chunk in response.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
                    return
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError):
                if started:
                    return  # the response was cut off mid-way; nothing more can be said
                # The container may have been restarted on another port a moment ago.
                moved = await STATE.upstream(_route_id(slug=slug, stage=stage), fresh=True)
                if attempt == 1 and moved and moved != upstream and not hasattr(data, "__anext__"):
                    upstream = moved
                    continue
                return await _not_running(send, slug, stage)


    async def websocket(self, scope, receive, send):
        match = APP_PATH.match(scope["path"])
        if match is None:
            await receive()
            await send({"type": "websocket.close", "code": 4404})
            return
        slug, stage = match["slug"], match["stage"]
        connect = await receive()
        assert connect["type"] == "websocket.connect"
        allowed = await _authorize(scope, slug, stage) == "ok" and (stage == "prod" or _same_origin(scope))
        route_id = _route_id(slug=slug, stage=stage)
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
                                                  protocols=scope.get("subprotocols") or (), autoping=True,
                                                  max_msg_size=WS_MAX_MESSAGE)
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
