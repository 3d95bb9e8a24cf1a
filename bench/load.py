"""Load on one private stack, loopback only: many viewers of one app's events, and a steady
stream of file reads. Prints what it measured; asserts nothing (these machines are noisy).

Private stack like the tests (mgx_site.settings.test picks a run directory and free ports;
real Redis, MongoDB store and Daphne, started by procs.start_all and stopped at the end). One
user logs in over HTTP; one app is made the way a user makes it (studio.services.app_create:
workspace from the template, first commit).

1. Viewers: `--viewers` (200) websocket clients on the same /ws/apps/<slug>/agent/ socket URL, as
   200 open chat tabs of one app. A writer appends `--events` events at `--event-rate` per second
   through agents.services.event_append (store + publish, what the agent's runs use), each stamped
   with its write time; every viewer notes when each arrives. Prints count, p50/p99/max of
   written -> received over all viewers, missing and errors (both must be 0), and whether
   p99 <= 50 ms (the target).
2. File reads: GET /api/workspaces/<slug>/files?path=... (what the editor calls to open a file)
   over HTTP through Daphne with the logged-in session, paced at `--rate` (500) per second for
   `--seconds` (30) on a small pool of keep-alive connections. Latency is counted from the
   moment a request was due (so a server that falls behind shows it, not hides it). Prints the
   achieved rate, errors (must be 0), p50/p99, and Daphne's RSS (VmRSS of the pid procs wrote)
   at start, middle and end; "memory stable" means end <= 1.10 x middle.
   With `--instances N` (N > 1) the stack runs N Daphne processes (procs.web_instance, as part 5
   of issue 16 runs a second web instance) and the connections are spread over them, as a load
   balancer in front of N instances would; each one's CPU and RSS is printed.
3. The floor (with part 2, unless `--no-floor`): the same reads, at the same rate over the same
   connections, from N Daphne processes serving an empty Django view (bench/floor_site.py: no
   middleware, database or session; MGX's request handler) for a third of `--seconds`. Prints its
   achieved rate and CPU per read, MGX's read as a multiple of it, and what the floor alone allows
   on this machine: one Daphne process runs on one core at a time (the GIL), so N processes on
   this machine's cores serve at most min(N, cores) / (floor CPU per read) reads per second
   before MGX does any work of its own, less what the load generator itself takes.

MGX runs as `./mgx up` runs it by default: its own telemetry is not exported. `--otel` turns on
what the test suite runs with (OTEL_EXPORTER_OTLP_ENDPOINT=self: a span per request, exported
to its own receiver), to see what that costs.

Bounded: every wait has a deadline, outstanding requests are capped, results are flat arrays
whose size the flags fix.

    .venv/bin/python bench/load.py [--viewers 200] [--events 200] [--event-rate 20]
                                   [--rate 500] [--seconds 30] [--instances 1] [--otel] [--quick]
                                   [--burners 2]

`--burners N` runs N CPU burners (`while True: pass`) beside it: the busy machine.

(`.venv` is MGX's environment, `$MGX_VENV` if set elsewhere.) `--quick` is a smoke run: 20
viewers, 40 events, 100 reads/s for 5 s.
"""
import argparse
import array
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
from _busy import burners  # noqa: E402
from _login import bench_login  # noqa: E402
from django.core.management import call_command  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from agents.services import event_append  # noqa: E402
from core.probes import tcp_open  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from mgx_site.settings.test import _free_port  # noqa: E402
from studio.services import app_create  # noqa: E402
from workspaces import selectors as ws_selectors  # noqa: E402

P99_TARGET_MS = 50.0
FLOOR_TARGET = 2.0  # MGX's file read, in Daphne CPU per read, at most this many times the floor's
RSS_BOUND = 1.10  # end / middle


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, int(len(sorted_values) * p) - 1))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: how busy Daphne was during a part."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- 1. viewers of one app's events


async def viewers_run(*, base: str, ws_base: str, cookie: str, slug: str, viewers: int, events: int,
                      event_rate: float) -> dict:
    latencies = array.array("d")
    # received[v] is a bytearray: one flag per event index, so duplicates and gaps both show.
    received = [bytearray(events) for _ in range(viewers)]
    counts = {"errors": 0, "duplicates": 0, "connect_failed": 0}
    all_in = asyncio.Event()
    done_viewers = 0
    sockets = []
    handshake = asyncio.Semaphore(20)  # a page load's worth of handshakes at a time, not 200 at once

    async def open_one():
        async with handshake:
            try:
                ws = await asyncio.wait_for(
                    connect(f"{ws_base}/ws/apps/{slug}/agent/", additional_headers={"Cookie": cookie, "Origin": base},
                            max_queue=None), timeout=30)
            except Exception as exc:
                counts["connect_failed"] += 1
                print(f"  viewer connect failed: {exc!r}")
                return None
            sockets.append(ws)
            return ws

    async def listen(v, ws):
        nonlocal done_viewers
        got = 0
        mine = received[v]
        try:
            async for raw in ws:
                now = time.time()
                message = json.loads(raw)
                if message.get("kind") != "agent.event":
                    continue  # heartbeats
                payload = message["data"]["payload"]
                i = payload.get("i")
                if i is None or not 0 <= i < events:
                    counts["errors"] += 1
                    continue
                if mine[i]:
                    counts["duplicates"] += 1
                    continue
                mine[i] = 1
                latencies.append((now - payload["t"]) * 1000)
                got += 1
                if got == events:
                    done_viewers += 1
                    if done_viewers == viewers:
                        all_in.set()
        except Exception as exc:
            if not stopping:
                counts["errors"] += 1
                print(f"  viewer {v} stopped: {exc!r}")

    stopping = False
    t0 = time.perf_counter()
    opened = await asyncio.gather(*(open_one() for _ in range(viewers)))
    connect_seconds = time.perf_counter() - t0
    tasks = [asyncio.ensure_future(listen(v, ws)) for v, ws in enumerate(opened) if ws is not None]
    live = [v for v, ws in enumerate(opened) if ws is not None]
    viewers = len(live)  # all_in fires when every connected viewer has every event

    def write():
        start = time.perf_counter()
        for i in range(events):
            delay = start + i / event_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the writer, not synchronising anything
            event_append(session=slug, type="MESSAGE_DELTA",
                         payload={"role": "engineer", "message_id": "m", "text": "x" * 40, "i": i, "t": time.time()})
        return time.perf_counter() - start

    write_seconds = await asyncio.get_running_loop().run_in_executor(None, write)
    try:
        await asyncio.wait_for(all_in.wait(), timeout=15)
    except asyncio.TimeoutError:
        pass
    stopping = True
    for ws in sockets:
        await ws.close()
    await asyncio.wait(tasks, timeout=10) if tasks else None
    missing = sum(events - sum(received[v]) for v in live) + counts["connect_failed"] * events
    return {"latencies": latencies, "missing": missing, "write_seconds": write_seconds,
            "connect_seconds": connect_seconds, **counts}


# ---------------------------------------------------------------- 2. file reads


async def reads_run(*, bases: list[str], cookie: str, slug: str, paths: list[str], rate: float, seconds: float,
                    pool: int, daphne_pids: list[int]) -> dict:
    total = int(rate * seconds)
    latencies = array.array("d")
    errors: dict[str, int] = {}
    def rss_now():
        return sum(rss_kib(pid) for pid in daphne_pids)

    rss = {"start": rss_now()}
    outstanding_cap = max(pool * 4, int(rate))  # beyond this the server is a second behind: stop queueing
    skipped = 0
    outstanding = 0
    timeout = aiohttp.ClientTimeout(total=10)
    # One client per instance, each with its share of the keep-alive connections; reads go to
    # the instances in turn.
    clients = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(1, pool // len(bases)), force_close=False,
                                                                    keepalive_timeout=60),
                                     timeout=timeout, headers={"Cookie": cookie}) for _ in bases]

    try:

        async def one(i, due):
            nonlocal outstanding
            http, base = clients[i % len(bases)], bases[i % len(bases)]
            try:
                async with http.get(f"{base}/api/workspaces/{slug}/files", params={"path": paths[i % len(paths)]}) as r:
                    body = await r.read()
                    if r.status != 200 or b'"content"' not in body:
                        errors[f"HTTP {r.status}"] = errors.get(f"HTTP {r.status}", 0) + 1
                    else:
                        latencies.append((time.perf_counter() - due) * 1000)
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            finally:
                outstanding -= 1

        # One warm-up read per connection, so the first second does not count connection set-up.
        await asyncio.gather(*(one(i, time.perf_counter()) for i in range(pool)))
        latencies = array.array("d")
        errors.clear()
        outstanding = 0

        tasks = set()
        start = time.perf_counter()
        middle_at = start + seconds / 2
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if "middle" not in rss and time.perf_counter() >= middle_at:
                rss["middle"] = rss_now()
            if outstanding >= outstanding_cap:
                skipped += 1
                continue
            outstanding += 1
            task = asyncio.ensure_future(one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        elapsed = time.perf_counter() - start
        rss.setdefault("middle", rss_now())
        rss["end"] = rss_now()
    finally:
        for http in clients:
            await http.close()
    return {"latencies": latencies, "errors": errors, "skipped": skipped, "elapsed": elapsed, "total": total,
            "rss": rss, "unfinished": len(tasks)}


# ---------------------------------------------------------------- 3. the floor


def floor_start(layout, count: int) -> list[tuple[subprocess.Popen, int]]:
    """`count` Daphne processes serving bench/floor_site.py, each answering on its port; stopped
    by floor_stop. Their access logs go to the run directory, as MGX's Daphne's do."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="floor_site", PYTHONPATH=f"{ROOT / 'bench'}:{ROOT}")
    servers = []
    for index in range(count):
        port = _free_port()
        log = open(Path(layout.var_dir) / f"floor-{index}.log", "w")
        servers.append((subprocess.Popen([str(procs.BIN_DIR / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                          "floor_site:application"], env=env, stdout=log, stderr=log,
                                         cwd=ROOT / "bench"), port))
        log.close()
    deadline = time.monotonic() + 60
    for proc, port in servers:
        while not tcp_open("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                floor_stop(servers)
                raise SystemExit(f"the floor's Daphne on port {port} did not start (see {layout.var_dir}/floor-*.log)")
            time.sleep(0.2)  # polling a start-up, with a deadline
    return servers


def floor_stop(servers) -> None:
    for proc, _port in servers:
        proc.terminate()
    for proc, _port in servers:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--event-rate", type=float, default=20.0, help="events written per second")
    parser.add_argument("--rate", type=float, default=500.0, help="file reads per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the reads go on")
    parser.add_argument("--pool", type=int, default=16, help="keep-alive connections for the reads")
    parser.add_argument("--instances", type=int, default=1, help="Daphne processes serving the reads")
    parser.add_argument("--otel", action="store_true", help="export MGX's own spans to itself, as the tests do")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 viewers, 40 events, 100 reads/s for 5 s")
    parser.add_argument("--only", choices=("viewers", "reads"), help="run one part")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor (part 3) after the reads")
    parser.add_argument("--burners", type=int, default=0, help="CPU burners (while True: pass) beside the run")
    args = parser.parse_args()
    with burners(args.burners):
        run(args)
    if args.burners:
        print(f"(with {args.burners} CPU burners beside it)")


def run(args):
    if args.quick:
        args.viewers, args.events, args.rate, args.seconds = 20, 40, 100.0, 5.0

    if not args.otel:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = ""  # the processes started below read it
    # Every viewer is the one bench user: past MGX_MAX_SOCKETS_PER_USER most would be refused.
    os.environ["MGX_MAX_SOCKETS_PER_USER"] = str(args.viewers + 10)
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    daphnes = [stack["daphne"]]
    for index in range(2, args.instances + 1):
        made = procs.web_instance(layout, dict(os.environ), index=index, port=_free_port(), apps_port=_free_port(),
                                  internal_port=_free_port())
        daphnes += [p for p in made if p.name == f"daphne-{index}"]
    call_command("migrate", verbosity=0)
    started = procs.start_all(layout, [stack["redis"], stack["mongo"], *daphnes])
    part1 = part2 = part3 = None
    try:
        pids = [procs.running_pid(layout, p) for p in daphnes]
        daphne_pid = pids[0]
        bases = [f"http://127.0.0.1:{p.port}" for p in daphnes]
        base = bases[0]
        user, http = bench_login(base)
        app = app_create(owner=user, name="Load Bench", framework="nextjs")
        paths = [e.path for e in ws_selectors.entries_list(app=app, path="")
                 if not e.is_dir and e.size < 16_384]
        cookie = f"sessionid={http.cookies['sessionid']}"

        if args.only in (None, "viewers"):
            cpu0, own0, wall0 = cpu_seconds(daphne_pid), time.process_time(), time.perf_counter()
            part1 = asyncio.run(viewers_run(base=base, ws_base=base.replace("http", "ws", 1), cookie=cookie,
                                            slug=app.slug, viewers=args.viewers, events=args.events,
                                            event_rate=args.event_rate))
            part1["cpu"] = ((cpu_seconds(daphne_pid) - cpu0), time.process_time() - own0, time.perf_counter() - wall0)
        if args.only in (None, "reads"):
            cpu0, own0, wall0 = [cpu_seconds(pid) for pid in pids], time.process_time(), time.perf_counter()
            part2 = asyncio.run(reads_run(bases=bases, cookie=cookie, slug=app.slug, paths=paths, rate=args.rate,
                                          seconds=args.seconds, pool=args.pool, daphne_pids=pids))
            each = [cpu_seconds(pid) - c for pid, c in zip(pids, cpu0)]
            part2["cpu"] = (sum(each), time.process_time() - own0, time.perf_counter() - wall0)
            part2["cpu_each"] = each
            if not args.no_floor:
                servers = floor_start(layout, args.instances)
                try:
                    floor_pids = [proc.pid for proc, _port in servers]
                    cpu0, own0, wall0 = [cpu_seconds(pid) for pid in floor_pids], time.process_time(), time.perf_counter()
                    part3 = asyncio.run(reads_run(bases=[f"http://127.0.0.1:{port}" for _proc, port in servers],
                                                  cookie="", slug=app.slug, paths=paths, rate=args.rate,
                                                  seconds=max(5.0, args.seconds / 3), pool=args.pool,
                                                  daphne_pids=floor_pids))
                    part3["cpu"] = (sum(cpu_seconds(pid) - c for pid, c in zip(floor_pids, cpu0)),
                                    time.process_time() - own0, time.perf_counter() - wall0)
                finally:
                    floor_stop(servers)
    finally:
        procs.stop_started(layout, started)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    if part1:
        lat = sorted(part1["latencies"])
        expected = args.viewers * args.events
        p99 = pct(lat, 0.99)
        complete = part1["missing"] == 0 and part1["errors"] == 0 and part1["duplicates"] == 0
        verdict = ("OK" if p99 <= P99_TARGET_MS else "ABOVE TARGET") + ("" if complete else ", EVENTS MISSING")
        print(f"1. {args.viewers} viewers of one app's events: {args.events} events written at "
              f"{args.events / part1['write_seconds']:.0f}/s (viewers connected in {part1['connect_seconds']:.1f} s)")
        print(f"   received {len(lat)} of {expected}; missing {part1['missing']}, errors {part1['errors']}, "
              f"duplicates {part1['duplicates']}, connect failures {part1['connect_failed']}")
        if lat:
            print(f"   written -> received: p50 {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms "
                  f"(target p99 <= {P99_TARGET_MS:.0f} ms) {verdict}")
        print("   CPU: Daphne %.1f s, this script %.1f s, in %.1f s" % part1["cpu"]
              + f"; Daphne {part1['cpu'][0] / max(1, len(lat)) * 1e6:.0f} us per frame delivered")
    if part2:
        lat = sorted(part2["latencies"])
        n_errors = sum(part2["errors"].values())
        rss = part2["rss"]
        ratio = rss["end"] / rss["middle"] if rss["middle"] else float("nan")
        achieved = len(lat) / part2["elapsed"]
        print(f"2. file reads, GET /api/workspaces/<slug>/files over {args.pool} keep-alive connections to "
              f"{args.instances} Daphne process{'es' if args.instances > 1 else ''}, {len(paths)} files, "
              f"own telemetry {'exported to itself' if args.otel else 'off (the default)'}: "
              f"asked {args.rate:.0f}/s for {args.seconds:.0f} s ({part2['total']} reads)")
        print(f"   achieved {achieved:.0f}/s ({achieved / args.rate:.2f} x asked); ok {len(lat)}, errors {n_errors}"
              f"{' ' + str(part2['errors']) if part2['errors'] else ''}, not sent (server > 1 s behind) {part2['skipped']}, "
              f"unfinished {part2['unfinished']}")
        if lat:
            print(f"   latency from due time: p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
                  f"max {lat[-1]:.1f} ms")
        print(f"   Daphne RSS{' (all instances)' if args.instances > 1 else ''}: start {rss['start'] / 1024:.1f} MiB, middle {rss['middle'] / 1024:.1f} MiB, "
              f"end {rss['end'] / 1024:.1f} MiB; end/middle {ratio:.3f} (bound <= {RSS_BOUND}) "
              f"{'stable' if ratio <= RSS_BOUND else 'GROWING'}; "
              f"{'ERRORS' if n_errors else 'errors 0'}"
              f"{'; RATE NOT REACHED' if part2['skipped'] or achieved < 0.95 * args.rate else '; rate reached'}")
        print("   CPU: Daphne %.1f s, this script %.1f s, in %.1f s" % part2["cpu"]
              + f"; Daphne {part2['cpu'][0] / max(1, len(lat)) * 1e3:.1f} ms per read"
              + (" (per instance: " + ", ".join(f"{c:.1f} s" for c in part2["cpu_each"]) + ")"
                 if args.instances > 1 else ""))
    if part2 and part3:
        floor_lat = sorted(part3["latencies"])
        floor_ms = part3["cpu"][0] / max(1, len(floor_lat)) * 1e3
        mgx_ms = part2["cpu"][0] / max(1, len(part2["latencies"])) * 1e3
        client_ms = part3["cpu"][1] / max(1, len(floor_lat)) * 1e3
        cores = os.cpu_count() or 1
        ceiling = min(args.instances, cores) * 1000 / floor_ms if floor_ms else float("nan")
        print(f"3. the floor: the same reads from {args.instances} Daphne process{'es' if args.instances > 1 else ''} "
              f"serving an empty Django view (no middleware, database or session), asked {args.rate:.0f}/s for "
              f"{max(5.0, args.seconds / 3):.0f} s: achieved {len(floor_lat) / part3['elapsed']:.0f}/s, "
              f"errors {sum(part3['errors'].values())}; Daphne {floor_ms:.2f} ms CPU per read")
        ratio = mgx_ms / floor_ms
        print(f"   MGX's read: {mgx_ms:.2f} ms = {ratio:.2f} x the floor (target <= {FLOOR_TARGET:.1f} x) "
              f"{'OK' if ratio <= FLOOR_TARGET else 'ABOVE TARGET'}. This machine ({cores} cores): the "
              f"floor alone allows at most {ceiling:.0f} reads/s on {min(args.instances, cores)} "
              f"process{'es' if min(args.instances, cores) > 1 else ''}, and the load generator takes "
              f"{client_ms:.2f} ms of CPU per read besides (at {args.rate:.0f}/s: "
              f"{client_ms * args.rate / 1000:.2f} of a core)")


if __name__ == "__main__":
    main()
