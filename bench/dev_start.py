"""Dev start to first 200 through the gateway, per framework, three ways:
- cold: a new app, nothing installed;
- warm: Start after Stop, what the Dev tab and the API do: the stopped server was kept warm
  (its container paused, MGX_DEV_KEEP_WARM) and is resumed;
- fresh: Start after the container was removed (Start fresh, or kept warm too long):
  node_modules/.venv already there, a new dev server that compiles the first page again.

Runs a private stack like the test suite (mgx_site.settings.test: own run dir and ports; real
Redis, MongoDB store, Daphne, Celery worker) on the real Docker engine with the runtime image
(`./mgx images` first: with the dev image, a new app copies the templates' dependencies
instead of downloading them). Targets: warm <= 3 s, cold <= 30 s.

    .venv/bin/python bench/dev_start.py
"""
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from _login import bench_login  # noqa: E402
from django.core.management import call_command  # noqa: E402

from core.frameworks import FRAMEWORKS  # noqa: E402
from deployments import services  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402


def first_200(http, url, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(url, timeout=120).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


def timed_start(app, http, url):
    started = time.monotonic()
    services.dev_start(app=app)
    ok = first_200(http, url)
    return (time.monotonic() - started) if ok else float("nan")


def main():
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = procs.stack(layout, dict(os.environ))
    call_command("migrate", verbosity=0)
    results = procs.start_all(layout, stack)
    try:
        base = f"http://127.0.0.1:{os.environ['MGX_PORT']}"
        user, http = bench_login(base)
        rows = []
        for framework in FRAMEWORKS:
            app = app_create(owner=user, name=f"Bench {framework}", framework=framework)
            url = f"{base}/apps/{app.slug}/dev/"
            cold = timed_start(app, http, url)
            services.dev_stop(app=app, keep_warm=True)
            warm = timed_start(app, http, url)
            services.dev_stop(app=app)
            fresh = timed_start(app, http, url)
            services.dev_stop(app=app)
            rows.append((framework, cold, warm, fresh))
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    print("dev start -> first 200 through the gateway (seconds)")
    print(f"{'framework':14} {'cold':>8} {'warm':>8} {'fresh':>8}")
    for framework, cold, warm, fresh in rows:
        print(f"{framework:14} {cold:>8.1f} {warm:>8.1f} {fresh:>8.1f}")
    worst_cold = max(r[1] for r in rows)
    worst_warm = max(r[2] for r in rows)
    print(f"cold worst {worst_cold:.1f} s (target <= 30 s) {'OK' if worst_cold <= 30 else 'ABOVE TARGET'}")
    print(f"warm worst {worst_warm:.1f} s (target <= 3 s) {'OK' if worst_warm <= 3 else 'ABOVE TARGET'}")
    print(f"fresh worst {max(r[3] for r in rows):.1f} s (no target: next dev compiles the first page again)")


if __name__ == "__main__":
    main()
