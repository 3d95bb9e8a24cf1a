"""Where a file read's time goes, in-process: the editor's `GET /api/workspaces/<slug>/files?path=`
run through Django's full middleware chain and MGX's view (Django's test client: no Daphne, no
sockets), under cProfile, on the same private stack as load.py (real Redis, MongoDB store,
SQLite in a run directory, one user logged in through MGX's login form).

Prints the SQL queries one read makes, the time per read with and without the profiler, and the
functions that took the most time (cumulative). Asserts nothing.

    .venv/bin/python bench/read_profile.py [--reads 2000] [--top 40]
"""
import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = ""  # as ./mgx up runs MGX (load.py's default too)
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

from _login import bench_login  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402
from workspaces import selectors as ws_selectors  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    started = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["daphne"]])
    try:
        base = f"http://127.0.0.1:{stack['daphne'].port}"
        user, http = bench_login(base)
        app = app_create(owner=user, name="Read Profile", framework="nextjs")
        paths = [e.path for e in ws_selectors.entries_list(app=app, path="") if not e.is_dir and e.size < 16_384]
        client = Client(HTTP_HOST="127.0.0.1", headers={"Origin": base})
        client.cookies["sessionid"] = http.cookies["sessionid"]
        url = f"/api/workspaces/{app.slug}/files"

        def read(i):
            response = client.get(url, {"path": paths[i % len(paths)]})
            assert response.status_code == 200, response.content[:200]

        for i in range(50):  # warm: connections, caches, imports
            read(i)
        queries = []

        def note(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(note):
            read(0)
        t0 = time.perf_counter()
        for i in range(args.reads):
            read(i)
        plain = (time.perf_counter() - t0) / args.reads
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        for i in range(args.reads):
            read(i)
        profile.disable()
        profiled = (time.perf_counter() - t0) / args.reads
    finally:
        procs.stop_started(layout, started)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    print(f"one read makes {len(queries)} SQL queries:")
    for sql in queries:
        print(f"  {sql[:200]}")
    print(f"{args.reads} reads in-process (Django's test client, full middleware, no Daphne): "
          f"{plain * 1e3:.2f} ms per read; {profiled * 1e3:.2f} ms under cProfile")
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top // 2)


if __name__ == "__main__":
    main()
