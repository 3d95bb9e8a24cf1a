"""A small real HTTP + websocket server for gateway tests, on a free loopback port."""
import asyncio
import socket
import threading

from aiohttp import WSMsgType, web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    def __init__(self):
        self.port = free_port()
        self.seen: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()

    async def _any(self, request: web.Request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(protocols=("vite-hmr",))
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data.startswith("flood:"):
                    # An app that sends one enormous message (what a hostile app's code can do).
                    await ws.send_bytes(bytes(int(msg.data.split(":", 1)[1])))
                elif msg.type == WSMsgType.TEXT:
                    await ws.send_str(f"upstream got: {msg.data}")
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data[::-1])
            return ws
        body = await request.read()
        self.seen.append({"path": request.path_qs, "method": request.method, "headers": dict(request.headers), "size": len(body)})
        if request.path.endswith("/redirect"):
            raise web.HTTPFound("/elsewhere")
        if request.path.endswith("/toss"):
            # An app that tries to replace MGX's cookies (browsers key cookies by host, not port).
            response = web.Response(text="tossed")
            response.set_cookie("sessionid", "attackers-session")
            response.set_cookie("csrftoken", "attackers-token")
            response.set_cookie("app_pref", "dark")
            return response
        if request.path.endswith("/accel"):
            # An app that tries to steer the proxy in front of it (nginx's X-Accel-Redirect: an
            # internal redirect to wherever it names, with the visitor's request).
            return web.Response(text="the app's own answer", headers={
                "X-Accel-Redirect": request.query.get("to", "/"), "X-Accel-Buffering": "yes"})
        if request.path.endswith("/framed"):
            # An app that forbids framing altogether: MGX still frames its own dev preview.
            return web.Response(text="no framing", headers={
                "X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})
        return web.json_response({"path": request.path_qs, "method": request.method, "received": len(body),
                                  "forwarded_for": request.headers.get("X-Forwarded-For", ""),
                                  "forwarded_host": request.headers.get("X-Forwarded-Host", "")},
                                 headers={"X-Upstream": "yes"})

    def start(self) -> "Upstream":
        def run():
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._any)
            runner = web.AppRunner(app)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            self._runner = runner
            self._started.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop.is_running():
            return

        async def shutdown():
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
