"""What the apps' MongoDB guard costs an app: the same pymongo calls on the apps' store directly
(as MGX opens it) and through the guard (as an app does, with its own URL), in alternating rounds.
Prints per-operation p50/p99 and guard/direct ratios; no pass/fail.

Starts a private stack like the test suite (mgx_site.settings.test: own run dir and ports): the
apps' store on loopback and the guard on the Docker bridge address, stopped and removed at the end.

    .venv/bin/python bench/apps_mongo.py [--rounds 3]
"""
import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

import pymongo  # noqa: E402
from django.conf import settings  # noqa: E402

from databases.provisioning import app_mongo_url  # noqa: E402
from mgx_site.cli import procs  # noqa: E402


def timed(samples: dict, name: str, call) -> None:
    started = time.perf_counter()
    call()
    samples.setdefault(name, []).append(time.perf_counter() - started)


def round_of(db, samples: dict) -> None:
    coll = db["bench"]
    coll.drop()
    coll.insert_many([{"_id": i, "text": "x" * 100, "n": i} for i in range(2000)])
    for i in range(1000):
        timed(samples, "find_one by _id", lambda: coll.find_one({"_id": i}))
    for i in range(300):
        timed(samples, "insert_one", lambda: db["writes"].insert_one({"i": i, "text": "y" * 100}))
    for _ in range(10):
        timed(samples, "find 2000 docs, batches of 200", lambda: list(coll.find({}, batch_size=200)))
    for k in range(5):
        timed(samples, "insert_many 1000 docs", lambda: db["many"].insert_many([{"k": k, "i": i} for i in range(1000)]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    results = procs.start_all(layout, [stack["apps-mongo"], stack["apps-mongo-guard"]])
    try:
        guarded = app_mongo_url(slug="bench").replace("host.docker.internal", settings.MGX_INTERNAL_HOST)
        clients = {"direct": pymongo.MongoClient(settings.MGX_APPS_MONGO_URL), "guard": pymongo.MongoClient(guarded)}
        samples = {"direct": {}, "guard": {}}
        for _ in range(rounds):
            for way, client in clients.items():
                round_of(client["app_bench"], samples[way])
        print(f"{'operation':34} {'direct p50':>11} {'guard p50':>10} {'ratio':>6} {'direct p99':>11} {'guard p99':>10}")
        for name in samples["direct"]:
            d, g = sorted(samples["direct"][name]), sorted(samples["guard"][name])
            p = lambda xs, q: xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3  # noqa: E731
            print(f"{name:34} {statistics.median(d) * 1e3:9.2f}ms {statistics.median(g) * 1e3:8.2f}ms "
                  f"{statistics.median(g) / statistics.median(d):5.2f}x {p(d, .99):9.2f}ms {p(g, .99):8.2f}ms")
        for client in clients.values():
            client.close()
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
