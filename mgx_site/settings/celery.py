from mgx_site import defaults

from .env import env

MGX_REDIS_URL = env("MGX_REDIS_URL", default=defaults.MGX_REDIS_URL)

CELERY_BROKER_URL = MGX_REDIS_URL
CELERY_RESULT_BACKEND = MGX_REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 24 * 3600
# The broker may be restarted under a running worker (./mgx down/up of Redis alone, or a crash):
# keep retrying instead of exiting so the worker comes back with it.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Agent runs and dev-container boots hold a worker for minutes; enough slots that the short
# tasks (reconcile, the idle reaper, a dev boot asked for by a running agent) still get one.
CELERY_WORKER_CONCURRENCY = env.int("MGX_CELERY_CONCURRENCY", default=4)

# Periodic work; the worker runs with an embedded beat (-B), so there is no extra process.
# Its tasks acknowledge on receipt (acks_late=False): a lost tick is harmless, and a late ack
# after Redis restarted under the task crashes the worker's consumer (kombu 5.7 acks through the
# closed connection: AttributeError in _connparams; tests/test_live_stack.py with a dev server's
# health checked every 3 s).
CELERY_BEAT_SCHEDULE = {
    "reap-idle-dev-containers": {"task": "deployments.dev_reap_idle", "schedule": 60.0},
    # Edits made over SSH reach History within this many seconds.
    "commit-dev-container-changes": {"task": "agents.dev_changes_commit",
                                     "schedule": env.float("MGX_DEV_COMMIT_INTERVAL", default=15.0)},
    # Traces and logs past their app's retention (MGX_OTLP_RETENTION_DAYS). The embedded store
    # accepts TTL indexes but is not known to enforce them, so this task does it everywhere.
    "telemetry-retention": {"task": "observability.retention_enforce", "schedule": 3600.0},
    # The app's health in each ready dev server (deployments.dev_health): red within seconds.
    "dev-health": {"task": "deployments.dev_health", "schedule": env.float("MGX_DEV_HEALTH_INTERVAL", default=3.0)},
    # Apps with auto-publish on: a new commit, once MGX_AUTO_PUBLISH_DELAY old, is published.
    "auto-publish": {"task": "deployments.auto_publish", "schedule": 10.0},
    # Each live release's errors of the last minutes (deployments.prod_health): the "Errors" badge.
    "prod-errors": {"task": "deployments.prod_errors", "schedule": env.float("MGX_PROD_ERRORS_INTERVAL", default=15.0)},
}

# A worker renews a Redis key with this TTL while it lives (core.workers); a run whose worker's
# key has expired is failed by the next worker that starts. Seconds.
MGX_WORKER_HEARTBEAT_TTL = env.int("MGX_WORKER_HEARTBEAT_TTL", default=30)
