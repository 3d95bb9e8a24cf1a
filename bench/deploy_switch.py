"""A steady request loop through the gateway while production is redeployed: failed requests
(target 0) and the longest gap between two answered requests (target <= 1 s).

Runs a private stack like the test suite (mgx_site.settings.test: real Redis, MongoDB store,
the apps gateway process) on the real Docker engine with the runtime image (`./mgx images`
first). The app is a small one (python's http.server under the base path, seconds to build) so
the measurement is the switch, not the framework; builds and deploys run in this process
through deployments.builds / deployments.production, as the Celery tasks would.

    .venv/bin/python bench/deploy_switch.py [--redeploys 3]
"""
import argparse
import os
import shutil
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

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from deployments import builds, production  # noqa: E402
from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402
from workspaces.services import file_write  # noqa: E402

DOCKERFILE = """\
ARG BASE_IMAGE=mgx/runtime:1
FROM ${BASE_IMAGE}
ARG MGX_BASE_PATH=
WORKDIR /srv/site
COPY page.html ./page.html
RUN mkdir -p ./$MGX_BASE_PATH && cp page.html ./$MGX_BASE_PATH/index.html \\
    && echo '{"status": "ok"}' > ./$MGX_BASE_PATH/healthz
USER 1000:1000
CMD ["python3", "-m", "http.server", "3000", "-d", "/srv/site"]
"""


class Loop:
    def __init__(self, url):
        self.url, self.stop, self.ok, self.failed, self.longest, self.errors = url, False, 0, 0, 0.0, []
        self.http = requests.Session()

    def run(self):
        last_ok = time.monotonic()
        while not self.stop:
            try:
                answer = self.http.get(self.url, timeout=5)
                good = answer.status_code == 200
            except requests.RequestException as exc:
                good, answer = False, exc
            now = time.monotonic()
            if good:
                self.longest = max(self.longest, now - last_ok)
                last_ok = now
                self.ok += 1
            else:
                self.failed += 1
                self.errors.append(str(getattr(answer, "status_code", answer))[:80])
            time.sleep(0.005)


def deploy(app, user):
    release = production.release_request(app=app, user=user)
    release = production.release_deploy(release=release)
    if release.status != "live":
        raise SystemExit(f"deploy failed: {release.message}\n{release.last_log}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--redeploys", type=int, default=3)
    redeploys = parser.parse_args().redeploys
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    results = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["apps-mongo"], stack["apps-mongo-guard"], stack["gateway"]])
    try:
        user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
        app = app_create(owner=user, name="Bench switch", framework="nextjs")
        file_write(app=app, path="Dockerfile", content=DOCKERFILE, user=user)
        file_write(app=app, path="page.html", content="<h1>one</h1>\n", user=user)
        built = builds.build_run(build=builds.build_request(app=app, user=user))
        assert built.status == "succeeded", built.message
        deploy(app, user)
        loop = Loop(f"{settings.MGX_APPS_URL}/apps/{app.slug}/prod/")
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        started = time.monotonic()
        for _ in range(redeploys):
            deploy(app, user)
        loop.stop = True
        thread.join()
        elapsed = time.monotonic() - started
        production.prod_purge(app=app)
    finally:
        procs.stop_started(layout, results)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    print(f"request loop through the gateway during {redeploys} redeploys ({elapsed:.1f} s)")
    print(f"requests answered {loop.ok}, failed {loop.failed} (target 0) {'OK' if loop.failed == 0 else 'ABOVE TARGET'}"
          + (f"  e.g. {loop.errors[:3]}" if loop.errors else ""))
    print(f"longest gap {loop.longest:.3f} s (target <= 1 s; {loop.longest / 1.0:.2f}x) {'OK' if loop.longest <= 1 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
