"""Production build: cold (no layer cache) vs a rebuild after a one-line change of the app's
code, per framework (default fastapi_vite; `--framework nextjs` too). Target: rebuild <= 0.25x cold.

Runs a private stack like the test suite (mgx_site.settings.test: own run dir and ports; real
Redis and MongoDB store) on the real Docker engine with the runtime image (`./mgx images`
first); builds run in this process through deployments.builds, as the Celery task would.

    .venv/bin/python bench/build.py [--framework nextjs|fastapi_vite ...]
"""
import argparse
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

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from deployments import builds, selectors  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402
from workspaces.services import file_write, workspace_for  # noqa: E402

# The one line changed per framework: a file of the app's own code (not its dependencies).
EDIT = {"nextjs": "app/page.tsx", "fastapi_vite": "backend/app/main.py"}


def timed_build(app, user, *, nocache):
    build = builds.build_request(app=app, user=user)
    started = time.monotonic()
    build = builds.build_run(build=build, nocache=nocache)
    elapsed = time.monotonic() - started
    if build.status != "succeeded":
        raise SystemExit(f"build failed: {build.message}\n" + "\n".join(selectors.build_log_lines(build=build)[-20:]))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", action="append", choices=["nextjs", "fastapi_vite"])
    frameworks = parser.parse_args().framework or ["fastapi_vite"]
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    results = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["apps-mongo"], stack["apps-mongo-guard"]])
    rows = []
    try:
        user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
        for framework in frameworks:
            app = app_create(owner=user, name=f"Bench build {framework}", framework=framework)
            cold = timed_build(app, user, nocache=True)
            path = EDIT[framework]
            source = (workspace_for(app).root / path).read_text()
            file_write(app=app, path=path, content=source + "\n// one-line change\n".replace("//", "#" if path.endswith(".py") else "//"), user=user)
            rebuild = timed_build(app, user, nocache=False)
            rows.append((framework, cold, rebuild))
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    print("production build (seconds)")
    print(f"{'framework':14} {'cold':>8} {'rebuild':>8} {'ratio':>7}")
    for framework, cold, rebuild in rows:
        ratio = rebuild / cold
        print(f"{framework:14} {cold:>8.1f} {rebuild:>8.1f} {ratio:>6.2f}x  (target <= 0.25x) {'OK' if ratio <= 0.25 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
