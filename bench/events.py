"""Agent events: written -> received by a websocket client, with 20 sessions at once; and how
many events per second the store takes.

Private stack like the tests (mgx_site.settings.test: real Redis, MongoDB store, Daphne).
Each of 20 apps has one browser-like websocket client on /ws/apps/<slug>/agent/; a writer
appends events round-robin through agents.services.event_append (store + publish), each
stamped with its write time; clients note when it arrives. Target: p99 <= 50 ms.

    .venv/bin/python bench/events.py [--events 2000] [--burners 2]

`--burners N` runs N CPU burners (`while True: pass`) beside it: the busy machine.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from agents.services import event_append  # noqa: E402
from _busy import burners  # noqa: E402
from _login import bench_login  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from sessions_app.models import App  # noqa: E402

SESSIONS = 20


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--burners", type=int, default=0, help="CPU burners (while True: pass) beside the run")
    args = parser.parse_args()
    with burners(args.burners):
        run(args)
    if args.burners:
        print(f"(with {args.burners} CPU burners beside it)")


def run(args):
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    started = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["daphne"]])
    latencies, lock, stop = [], threading.Lock(), threading.Event()
    try:
        base = f"http://127.0.0.1:{os.environ['MGX_PORT']}"
        user, http = bench_login(base)
        slugs = [f"bench-{i:02d}" for i in range(SESSIONS)]
        for slug in slugs:
            App.objects.create(slug=slug, name=slug, framework="nextjs", owner=user)
        cookie = f"sessionid={http.cookies['sessionid']}"

        ready = threading.Barrier(SESSIONS + 1)

        def listen(slug):
            with connect(f"ws://127.0.0.1:{os.environ['MGX_PORT']}/ws/apps/{slug}/agent/",
                         additional_headers={"Cookie": cookie, "Origin": base}) as ws:
                ready.wait()
                while not stop.is_set():
                    try:
                        message = json.loads(ws.recv(timeout=0.5))
                    except TimeoutError:
                        continue
                    if message.get("kind") != "agent.event":
                        continue  # heartbeats ({"kind": "heartbeat"}) carry no event
                    sent = message["data"]["payload"].get("t")
                    if sent:
                        with lock:
                            latencies.append((time.time() - sent) * 1000)

        threads = [threading.Thread(target=listen, args=(s,), daemon=True) for s in slugs]
        for t in threads:
            t.start()
        ready.wait()
        write_started = time.perf_counter()
        for i in range(args.events):
            event_append(session=slugs[i % SESSIONS], type="MESSAGE_DELTA",
                         payload={"role": "engineer", "message_id": "m", "text": "x" * 40, "t": time.time()})
            time.sleep(0.002)  # a steady stream, not one burst
        write_seconds = time.perf_counter() - write_started
        deadline = time.monotonic() + 10
        while len(latencies) < args.events and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()

        # The store alone: serial appends, no sleep.
        n = 1000
        t0 = time.perf_counter()
        for i in range(n):
            event_append(session="store-only", type="MESSAGE_DELTA", payload={"text": "x" * 40}, publish=False)
        store_rate = n / (time.perf_counter() - t0)
    finally:
        stop.set()
        procs.stop_started(layout, started)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    lat = sorted(latencies)
    p50 = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"{SESSIONS} sessions, {args.events} events written in {write_seconds:.1f} s, {len(lat)} received")
    print(f"written -> received: p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 50 ms) {'OK' if p99 <= 50 else 'ABOVE TARGET'}")
    print(f"store alone (append with seq, no publish): {store_rate:.0f} events/s")


if __name__ == "__main__":
    main()
