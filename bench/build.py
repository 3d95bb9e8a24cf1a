"""Production build: cold (a new app: no step of an earlier build, an empty build cache) vs a
rebuild after a one-line change of the app's code, per framework, with each step's time.
Target: Next.js rebuild <= 0.25x cold; FastAPI + Vite rebuild stays about a second.

Runs a private stack like the test suite (mgx_site.settings.test: own run dir and ports; real
Redis and MongoDB store) on the real Docker engine with the runtime image (`./mgx images`
first); builds run in this process through deployments.builds, as the Celery task would.

    .venv/bin/python bench/build.py [--framework nextjs|fastapi_vite ...] [--log]

The one-line change: a comment added to app/page.tsx (Next.js), backend/app/main.py (FastAPI +
Vite: the frontend's image is used again, the backend's steps up to its code are reused).
"""
import argparse
import os
import re
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
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_DONE = re.compile(r"^ ---> done in ([\d.]+) s")
_IMAGE = re.compile(r"^==> (?:building )?mgx-app/[^:]*?(-backend|-frontend)?:")


def steps_of(build):
    """[(image, step text, seconds or "cache")] of the build's filesystem steps, from its log."""
    found, image, step = [], "app", ""
    for line in selectors.build_log_lines(build=build):
        if (match := _IMAGE.match(line)):
            image = (match[1] or "-app")[1:]
            if "unchanged since the last build" in line:
                found.append((image, "(the whole image used again)", "cache"))
        elif (match := _STEP.match(line)):
            step = f"{match[1]}/{match[2]} {match[3][:58]}"
        elif line.startswith(" ---> Using cache"):
            found.append((image, step, "cache"))
        elif (match := _DONE.match(line)):
            found.append((image, step, float(match[1])))
    return found


def timed_build(app, user, *, nocache, log=False):
    build = builds.build_request(app=app, user=user)
    started = time.monotonic()
    build = builds.build_run(build=build, nocache=nocache)
    elapsed = time.monotonic() - started
    if build.status != "succeeded":
        raise SystemExit(f"build failed: {build.message}\n" + "\n".join(selectors.build_log_lines(build=build)[-20:]))
    if log:
        print(f"\n--- the build's log ({app.framework}, {'cold' if nocache else 'rebuild'}) ---")
        print("\n".join(selectors.build_log_lines(build=build)))
    return elapsed, steps_of(build)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", action="append", choices=["nextjs", "fastapi_vite"])
    parser.add_argument("--log", action="store_true", help="print each build's whole log")
    args = parser.parse_args()
    frameworks = args.framework or ["nextjs", "fastapi_vite"]
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    results = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["apps-mongo"], stack["apps-mongo-guard"]])
    rows = []
    try:
        user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
        for framework in frameworks:
            app = app_create(owner=user, name=f"Bench build {framework}", framework=framework)
            cold, cold_steps = timed_build(app, user, nocache=True, log=args.log)
            path = EDIT[framework]
            source = (workspace_for(app).root / path).read_text()
            comment = "#" if path.endswith(".py") else "//"
            file_write(app=app, path=path, content=source + f"\n{comment} one-line change\n", user=user)
            rebuild, rebuild_steps = timed_build(app, user, nocache=False, log=args.log)
            rows.append((framework, cold, rebuild, cold_steps, rebuild_steps))
            try:
                from studio.services import app_delete

                app_delete(app=app)  # its images, step images and build cache go
            except Exception as exc:  # the numbers are what matters here
                print(f"(deleting {app.slug} failed: {exc})")
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    for framework, cold, rebuild, cold_steps, rebuild_steps in rows:
        print(f"\n{framework}: steps that change files (seconds; cache = reused)")
        print(f"  {'image':9} {'step':62} {'cold':>7} {'rebuild':>8}")
        later = {(image, step): seconds for image, step, seconds in rebuild_steps}
        for image, step, seconds in cold_steps:
            again = later.get((image, step), "-")
            show = lambda v: f"{v:>7.1f}" if isinstance(v, float) else f"{v:>7}"  # noqa: E731
            print(f"  {image:9} {step:62} {show(seconds)} {show(again):>8}")
        for image, step, seconds in rebuild_steps:
            if (image, step) not in {(i, s) for i, s, _ in cold_steps}:
                print(f"  {image:9} {step:62} {'-':>7} {seconds if isinstance(seconds, str) else f'{seconds:.1f}':>8}")
    print("\nproduction build (seconds)")
    print(f"{'framework':14} {'cold':>8} {'rebuild':>8} {'ratio':>7}")
    for framework, cold, rebuild, _, _ in rows:
        ratio = rebuild / cold
        target = "target <= 0.25x" if framework == "nextjs" else "target: about a second"
        verdict = ("OK" if ratio <= 0.25 else "ABOVE TARGET") if framework == "nextjs" else ""
        print(f"{framework:14} {cold:>8.1f} {rebuild:>8.1f} {ratio:>6.2f}x  ({target}) {verdict}")


if __name__ == "__main__":
    main()
