"""Builtin gateway vs direct: requests/s and p50/p99 against the same upstream, one run.

Starts a private Redis and the gateway process (mgx_site.procs, exactly what `./mgx up` and the
tests start: uvicorn + uvloop + httptools), a uvicorn hello-world upstream (h11, asyncio loop:
the baseline MGX measured against, docs/architecture.md), routes /apps/bench/prod/ to it, and loads both with
wrk. Also loads a route-less /apps/ URL, which the gateway answers itself without any upstream:
the ceiling of the gateway process. Prints the ratios; the targets are >= 0.6x direct
throughput and <= 2 ms added p50.
Needs `wrk` (apt-get install wrk).

    .venv/bin/python bench/gateway.py [--seconds 10] [--connections 16]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployments.gateway import route_for  # noqa: E402
from deployments.gateway.builtin import BuiltinGateway  # noqa: E402
from mgx_site.cli import procs  # noqa: E402

UPSTREAM = """
import sys
import uvicorn
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello, world\\n"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", loop="asyncio", log_level="warning", access_log=False)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url, seconds, connections):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": int(errors.group(1)) if errors else 0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="mgx-bench-"))
    env = dict(os.environ, MGX_VAR_DIR=str(tmp), MGX_PORT=str(free_port()), MGX_APPS_PORT=str(free_port()),
               MGX_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               MGX_SECRET_KEY="bench", DJANGO_SETTINGS_MODULE="mgx_site.settings.base", MGX_OTEL_ENABLED="false")
    layout = procs.Layout(tmp)
    stack = {p.name: p for p in procs.stack(layout, env)}
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    started = []
    try:
        started = procs.start_all(layout, [stack["redis"], stack["gateway"]], env=env)
        BuiltinGateway(env["MGX_REDIS_URL"]).set_route(route_for(slug="bench", stage="prod", upstream=f"127.0.0.1:{up_port}"))
        while not procs.tcp_open("127.0.0.1", up_port):
            time.sleep(0.1)
        direct_url = f"http://127.0.0.1:{up_port}/apps/bench/prod/"
        gateway_url = f"http://127.0.0.1:{env['MGX_APPS_PORT']}/apps/bench/prod/"
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", gateway_url], capture_output=True)  # warm the pool
        direct = wrk(direct_url, args.seconds, args.connections)
        through = wrk(gateway_url, args.seconds, args.connections)
        ceiling = wrk(f"http://127.0.0.1:{env['MGX_APPS_PORT']}/apps/no-such-app/prod/", args.seconds, args.connections)
    finally:
        procs.stop_started(layout, started)
        upstream.terminate()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"wrk {args.connections} connections, {args.seconds} s each, same uvicorn (h11) hello-world upstream")
    print(f"{'':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    ceiling["errors"] = 0  # its 502 page is the point: the gateway answering with no upstream
    for name, r in (("direct", direct), ("gateway", through), ("no-upstream", ceiling)):
        print(f"{name:10} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7}")
    ratio = through["rps"] / direct["rps"]
    added = through["p50"] - direct["p50"]
    print(f"throughput ratio gateway/direct: {ratio:.2f}x (target >= 0.60x) {'OK' if ratio >= 0.6 else 'BELOW TARGET'}")
    print(f"added p50: {added:.2f} ms (target <= 2 ms) {'OK' if added <= 2 else 'ABOVE TARGET'}")
    print(f"gateway / its own ceiling (no upstream at all): {through['rps'] / ceiling['rps']:.2f}x")


if __name__ == "__main__":
    main()
