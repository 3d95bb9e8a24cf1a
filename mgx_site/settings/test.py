"""A private stack per test run: its own var dir and free ports, so tests never touch a running
MGX. The values go into os.environ, which the Daphne and Celery processes started by the test
fixtures inherit, so they run on exactly these settings too."""
import os
import socket
import tempfile

from mgx_site import defaults

# A developer's .env (model endpoint, ports) is for `./mgx up`, never for a test run's private
# stack; the processes the fixtures start inherit this too.
os.environ["MGX_ENV_FILE"] = ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bridge_address() -> str:
    from mgx_site.cli.procs import docker_bridge_address

    return docker_bridge_address(os.environ.get("DOCKER_HOST") or defaults.DOCKER_HOST)


if "MGX_TEST_RUN_DIR" not in os.environ:
    run_dir = tempfile.mkdtemp(prefix="mgx-test-")
    for leaked in ("MGX_PUBLIC_URL", "MGX_APPS_URL", "MGX_APPS_HOST", "MGX_ALLOWED_HOSTS", "MGX_WORKSPACE_ROOT",
                   "OTEL_EXPORTER_OTLP_ENDPOINT", "MGX_AGENT_API_URL", "MGX_APPS_MONGO_URL",
                   "MGX_APPS_MONGO_URL_FOR_APPS", "MGX_APPS_OTLP_ENDPOINT"):
        os.environ.pop(leaked, None)
    os.environ.update(
        {
            "MGX_TEST_RUN_DIR": run_dir,
            "MGX_VAR_DIR": run_dir,
            "MGX_PORT": str(_free_port()),
            "MGX_APPS_PORT": str(_free_port()),
            "MGX_INTERNAL_PORT": str(_free_port()),
            # Named, so the test process can call the internal listener by its address too.
            "MGX_INTERNAL_HOST": os.environ.get("MGX_INTERNAL_HOST") or _bridge_address(),
            "MGX_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",
            "MGX_MONGO_URL": f"mongodb://127.0.0.1:{_free_port()}/mgx",
            "MGX_APPS_MONGO_PORT": str(_free_port()),
            "MGX_APPS_MONGO_STORE_PORT": str(_free_port()),
            # Apps' telemetry goes to MGX's own receiver on the internal listener, as by default.
            "MGX_APPS_OTLP_ENDPOINT": "",
            "MGX_SECRET_KEY": "test-only-secret-key-" + os.path.basename(run_dir),
            "DATABASE_URL": f"sqlite:///{run_dir}/mgx.sqlite3",
            "MGX_CELERY_CONCURRENCY": "3",
            # The live Daphne plays MGX behind a proxy: tests set X-Forwarded-For to act as
            # clients at different addresses (login lockout per address).
            "MGX_PROXY_HEADERS": "true",
            # MGX's own spans (requests, tasks, model calls) go to the live Daphne's own receiver,
            # as `OTEL_EXPORTER_OTLP_ENDPOINT=self` does in production; batches leave every second.
            "OTEL_EXPORTER_OTLP_ENDPOINT": "self",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
        }
    )
    if (os.environ.get("MGX_TEST_POSTGRES") or "").lower() in ("1", "true", "yes"):
        # The suite on PostgreSQL: a private cluster (conftest's postgres_server starts it) in a
        # directory of its own that Debian's postgres user can reach when the run is root's.
        from mgx_site.cli import procs as _procs

        pg_dir = tempfile.mkdtemp(prefix="mgx-test-pg-")
        os.chmod(pg_dir, 0o755)
        os.environ.update({"MGX_POSTGRES_DIR": pg_dir, "MGX_POSTGRES_PORT": str(_free_port())})
        os.environ["DATABASE_URL"] = _procs.postgres_url(_procs.Layout(run_dir), dict(os.environ))

from .base import *  # noqa: E402,F401,F403
from .base import DATABASES  # noqa: E402

# The live processes open the same database pytest-django migrates (SQLite file or PostgreSQL
# database), so they see the test data.
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
