"""Dev start to first 200 through the gateway, per framework, three ways:
- cold: a new app, nothing installed: its dependencies come from the dev image's warm cache
  (the templates' locked packages, copied into the workspace) or, with `--image` naming an image
  without that cache (the runtime image), from the registries;
- warm: Start after Stop, what the Dev tab and the API do: the stopped server was kept warm
  (its container paused, MGX_DEV_KEEP_WARM) and is resumed;
- fresh: Start after the container was removed (Start fresh, or kept warm too long):
  node_modules/.venv already there, a new dev server that compiles the first page again.

For cold starts it also prints where the time went, from the dev container's own log: creating
and starting the container, installing (copying) the dependencies, and the dev server up to its
first answer. Stop is pressed once the Dev tab says ready, as a person does (a server still
starting is not kept warm).

Runs a private stack like the test suite (mgx_site.settings.test: own run dir and ports; real
Redis, MongoDB store, Daphne, Celery worker) on the real Docker engine with the dev image
(`./mgx images` first). Targets: cold <= 30 s, warm <= 3 s.

    .venv/bin/python bench/dev_start.py [--image mgx/runtime:1] [--framework nextjs|fastapi_vite ...]
"""
import argparse
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.chdir(ROOT)
_parser = argparse.ArgumentParser()
_parser.add_argument("--image", help="dev containers' image (MGX_DEV_IMAGE) for this run")
_parser.add_argument("--framework", action="append", choices=["nextjs", "fastapi_vite"])
ARGS = _parser.parse_args()
if ARGS.image:
    os.environ["MGX_DEV_IMAGE"] = ARGS.image  # before the settings are read, here and in the worker

import django  # noqa: E402

django.setup()

import docker  # noqa: E402
import requests  # noqa: E402
from _login import bench_login  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from containers.docker_client import container_name  # noqa: E402
from core.frameworks import FRAMEWORKS  # noqa: E402
from deployments import services  # noqa: E402
from deployments.models import DevEnvironment  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402

COLD_TARGET, WARM_TARGET = 30, 3


def first_200(http, url, timeout=600):
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


def ready(app, timeout=120):
    """Until the Dev tab says ready (the boot watcher's own probe answered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if DevEnvironment.objects.get(app=app).phase == DevEnvironment.Phase.READY:
            return
        time.sleep(0.2)


def _when(stamp: str) -> float:
    # Docker's RFC 3339 times carry nanoseconds; Python takes microseconds.
    head, _, rest = stamp.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00").timestamp()


def phases(app, requested: float, answered: float) -> str:
    """Where a cold start's time went, from the container's timestamped log."""
    container = docker.from_env().containers.get(container_name(slug=app.slug, role="dev"))
    began = _when(container.attrs["State"]["StartedAt"])
    seen, server_lines = {}, []
    for line in container.logs(timestamps=True).decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        for mark in ("MGX_PHASE installing", "MGX_PHASE starting"):
            if text.startswith(mark):
                seen.setdefault(mark, _when(stamp))
        if "MGX_PHASE starting" in seen and any(word in text for word in ("Ready", "Compil", "GET ", "ready in")):
            server_lines.append(f"+{_when(stamp) - seen['MGX_PHASE starting']:.1f} s {text.strip()[:70]}")
    install = seen.get("MGX_PHASE starting", began) - seen.get("MGX_PHASE installing", began)
    server = answered - seen.get("MGX_PHASE starting", began)
    return (f"container {began - requested:.1f} s, dependencies {install:.1f} s, "
            f"dev server to first 200 {server:.1f} s" + "".join(f"\n    {line}" for line in server_lines[:8]))


def main():
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = procs.stack(layout, dict(os.environ))
    call_command("migrate", verbosity=0)
    results = procs.start_all(layout, stack)
    rows, notes = [], []
    try:
        base = f"http://127.0.0.1:{os.environ['MGX_PORT']}"
        user, http = bench_login(base)
        for framework in ARGS.framework or FRAMEWORKS:
            app = app_create(owner=user, name=f"Bench {framework}", framework=framework)
            url = f"{base}/apps/{app.slug}/dev/"
            requested = time.time()
            cold = timed_start(app, http, url)
            notes.append(f"{framework} cold: {phases(app, requested, requested + cold)}")
            ready(app)
            services.dev_stop(app=app, keep_warm=True)
            warm = timed_start(app, http, url)
            ready(app)
            services.dev_stop(app=app)
            fresh = timed_start(app, http, url)
            services.dev_stop(app=app)
            rows.append((framework, cold, warm, fresh))
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    print(f"dev start -> first 200 through the gateway (seconds), dev image {settings.MGX_DEV_IMAGE}")
    print(f"{'framework':14} {'cold':>8} {'warm':>8} {'fresh':>8}")
    for framework, cold, warm, fresh in rows:
        print(f"{framework:14} {cold:>8.1f} {warm:>8.1f} {fresh:>8.1f}")
    for note in notes:
        print(note)
    worst_cold = max(r[1] for r in rows)
    worst_warm = max(r[2] for r in rows)
    print(f"cold worst {worst_cold:.1f} s (target <= {COLD_TARGET} s) {'OK' if worst_cold <= COLD_TARGET else 'ABOVE TARGET'}")
    print(f"warm worst {worst_warm:.1f} s (target <= {WARM_TARGET} s) {'OK' if worst_warm <= WARM_TARGET else 'ABOVE TARGET'}")
    print(f"fresh worst {max(r[3] for r in rows):.1f} s (no target: the dev server compiles the first page again)")


if __name__ == "__main__":
    main()
