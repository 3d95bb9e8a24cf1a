"""The apps gateway vs direct vs plain nginx: requests/s and p50/p99 against the same upstream, one run.

Starts a private stack in a temporary directory: Redis, a migrated SQLite database with one
user, one app and a logged-in session, and the apps gateway exactly as `./mgx up` and the tests
start it (mgx_site.cli.procs: nginx with MGX's Lua module, and MGX's access check); a uvicorn
hello-world upstream (h11, asyncio loop: the baseline MGX has always measured against); and
plain nginx in front of the same upstream (deployments.gateway.nginx.render_reference:
keepalive, HTTP/1.1, no buffering, as the gateway), the reference. Routes /apps/bench/prod/ and
/apps/bench/dev/ to the upstream and loads, with wrk, in rounds (each round every target, in
the same order):

    direct      the upstream itself
    nginx       plain nginx in front of it
    gw prod     the gateway, a public production route
    gw dev      the gateway, the owner's private dev preview (session cookie; cached decision)
    gw own      the gateway answering a URL of no app itself (its 404 page): its own ceiling

and prints the median of the rounds per target, then the ratios against direct, and the CPU time
the proxy's processes (nginx's master and workers: the reference's, the gateway's) spent per
request (user + system, from /proc): a number that load on the machine hardly moves, unlike
requests/s. Targets:
gateway >= 0.9x direct and <= 1 ms added p50 (prod and dev). `--burners N` keeps N CPU burners
(`while True: pass`) running beside it: the busy machine.
Needs `wrk` (apt-get install wrk) and nginx (./mgx up installs it).

    .venv/bin/python bench/gateway.py [--seconds 8] [--rounds 3] [--connections 16] [--burners 2]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

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

# Run inside the private stack's settings: an owner, the app `bench`, a logged-in session.
SETUP = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from sessions_app.models import App
owner = get_user_model().objects.create_user(username="bench", password="bench-only-password")
App.objects.create(slug="bench", name="Bench", framework="nextjs", owner=owner)
session = SessionStore()
session.update({"_auth_user_id": str(owner.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": owner.get_session_auth_hash()})
session.create()
print(session.session_key)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid):
    """User + system CPU of a process and its children (nginx's workers), from /proc."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return None
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def wrk(url, seconds, connections, headers=(), proxy_pid=None):
    cpu0 = _cpu_seconds(proxy_pid) if proxy_pid else None
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    cpu1 = _cpu_seconds(proxy_pid) if proxy_pid else None
    cpu_us = (cpu1 - cpu0) * 1e6 / requests if cpu0 is not None and cpu1 is not None and requests else None

    def pct(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "", "cpu_us": cpu_us}


def wait_for(port, what, within=30.0):
    deadline = time.monotonic() + within
    while not procs.tcp_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not answer on port {port}")
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--burners", type=int, default=0, help="CPU burners beside the run (a busy machine)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="mgx-bench-"))
    env = dict(os.environ, MGX_VAR_DIR=str(tmp), MGX_PORT=str(free_port()), MGX_APPS_PORT=str(free_port()),
               MGX_INTERNAL_PORT=str(free_port()), MGX_INTERNAL_HOST="127.0.0.1",
               MGX_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", DATABASE_URL=f"sqlite:///{tmp}/mgx.sqlite3",
               MGX_SECRET_KEY="bench", MGX_ENV_FILE="", DJANGO_SETTINGS_MODULE="mgx_site.settings.base",
               MGX_OTEL_ENABLED="false")
    layout = procs.Layout(tmp)
    layout.ensure()
    stack = {p.name: p for p in procs.stack(layout, env)}
    up_port, ref_port = free_port(), free_port()
    children, started = [], []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        session_key = subprocess.run([sys.executable, "-c", SETUP], cwd=REPO, env=env, check=True, capture_output=True,
                                     text=True).stdout.strip().splitlines()[-1]
        # Every server in a session of its own, as procs starts the gateway (and Docker an app):
        # with the kernel's autogroup scheduling (sched_autogroup_enabled) each session shares
        # the CPU as one group, so a reference started inside the bench's own session (beside
        # wrk) would be measured on other terms than the gateway.
        children.append(subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)], start_new_session=True))
        started = procs.start_all(layout, [stack["redis"], stack["gateway-auth"], stack["gateway"]], env=env)

        from deployments.gateway import nginx, route_for
        from deployments.gateway.builtin import BuiltinGateway

        ref_dir = tmp / "nginx-reference"
        (ref_dir / "tmp").mkdir(parents=True)
        (ref_dir / "nginx.conf").write_text(nginx.render_reference(
            prefix=ref_dir, listen=f"127.0.0.1:{ref_port}", upstream=f"127.0.0.1:{up_port}",
            user="www-data" if os.geteuid() == 0 else None))
        children.append(subprocess.Popen([nginx.nginx_binary(), "-p", f"{ref_dir}/", "-c", str(ref_dir / "nginx.conf"),
                                          "-e", "stderr", "-g", "daemon off;"], start_new_session=True))
        gw = BuiltinGateway(env["MGX_REDIS_URL"])
        for stage in ("prod", "dev"):
            gw.set_route(route_for(slug="bench", stage=stage, upstream=f"127.0.0.1:{up_port}"))
        wait_for(up_port, "the upstream")
        wait_for(ref_port, "the reference nginx")
        apps = f"http://127.0.0.1:{env['MGX_APPS_PORT']}"
        cookie = (f"Cookie: sessionid={session_key}",)
        ref_pid, gw_pid = children[-1].pid, int(layout.pidfile("gateway").read_text())
        targets = [
            ("direct", f"http://127.0.0.1:{up_port}/apps/bench/prod/", (), None),
            ("nginx", f"http://127.0.0.1:{ref_port}/apps/bench/prod/", (), ref_pid),
            ("gw prod", f"{apps}/apps/bench/prod/", (), gw_pid),
            ("gw dev", f"{apps}/apps/bench/dev/", cookie, gw_pid),
            ("gw own", f"{apps}/apps/no-such-app/prod/", (), gw_pid),
        ]
        for _, url, headers, _ in targets:  # warm every pool and cache
            wrk(url, 1, 2, headers)
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                   for _ in range(args.burners)]
        children += burners
        results = {name: [] for name, *_ in targets}
        for _ in range(args.rounds):
            for name, url, headers, pid in targets:
                results[name].append(wrk(url, args.seconds, args.connections, headers, proxy_pid=pid))
        load = os.getloadavg()[0]
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        procs.stop_started(layout, started)
        shutil.rmtree(tmp, ignore_errors=True)

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    print(f"wrk {args.connections} connections, {args.rounds} rounds x {args.seconds} s per target, medians; "
          f"same uvicorn (h11) hello-world upstream; {args.burners} CPU burner(s); load average {load:.1f}; "
          f"{os.cpu_count()} cores")
    print(f"{'':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x direct':>9} {'+p50 ms':>8} {'non-2xx':>8} "
          f"{'proxy CPU us/req':>17}")
    direct = {"rps": median("direct", "rps"), "p50": median("direct", "p50")}
    for name, *_ in targets:
        rps, p50, p99 = median(name, "rps"), median(name, "p50"), median(name, "p99")
        errors = 0 if name == "gw own" else sum(r["errors"] for r in results[name])  # its own page is the point
        cpus = [r["cpu_us"] for r in results[name] if r["cpu_us"] is not None]
        cpu = f"{statistics.median(cpus):>17.1f}" if cpus else f"{'-':>17}"
        print(f"{name:10} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f} {rps / direct['rps']:>8.2f}x {p50 - direct['p50']:>+8.2f} "
              f"{errors:>8} {cpu}")
        problems = {r["socket_errors"] for r in results[name] if r["socket_errors"]}
        if problems:
            print(f"{'':10} socket errors: {'; '.join(sorted(problems))}")
    for name in ("gw prod", "gw dev"):
        ratio = median(name, "rps") / direct["rps"]
        added = median(name, "p50") - direct["p50"]
        verdict = "OK" if ratio >= 0.9 and added <= 1.0 else "MISSES THE TARGET"
        print(f"{name}: {ratio:.2f}x direct (target >= 0.90x), +{added:.2f} ms p50 (target <= 1 ms): {verdict}")
    print(f"plain nginx: {median('nginx', 'rps') / direct['rps']:.2f}x direct, "
          f"+{median('nginx', 'p50') - direct['p50']:.2f} ms p50 (the reference)")


if __name__ == "__main__":
    main()
