"""Thin Celery shells around deployments.services: load by id, call the service.

services.py imports dev_boot_task to queue it (with transaction.on_commit) and this module
imports the services it runs: the two-file circle HackSoftware's Styleguide-Example keeps on
purpose (emails/services.py <-> emails/tasks.py), so a service is where work is queued and a
task never holds logic of its own."""
from celery import shared_task
from celery.signals import worker_ready

from core.workers import life_started
from sessions_app.models import App


# acks_late off: a boot whose worker was killed is ended by the next worker's reconcile (the
# Dev tab says so and the user starts again); the broker must not run it again by itself an hour
# later (the visibility timeout), over whatever the user started since.
@shared_task(name="deployments.dev_boot", bind=True, acks_late=False)
def dev_boot_task(self, app_id: int) -> str:
    from .services import dev_boot

    app = App.objects.filter(pk=app_id).first()
    if app is None:
        return "app deleted"
    return dev_boot(app=app, worker=self.request.hostname or "", queued=True).phase


@shared_task(name="deployments.dev_reap_idle", acks_late=False)
def dev_reap_idle_task() -> list[str]:
    from .services import dev_reap_idle

    # The worker's own reaper keeps stopped servers warm for a quick resume; an operator's or
    # an admin's "stop the idle ones" (dev_stop --all-idle, sandbox destroy_all) frees them.
    return dev_reap_idle(keep_warm=True)


@shared_task(name="deployments.dev_reconcile")
def dev_reconcile_task(worker: str = "", since: float | None = None) -> dict:
    from .services import dev_reconcile

    return dev_reconcile(worker=worker, since=since)


@shared_task(name="deployments.build_run")
def build_run_task(build_id: int) -> str:
    from .builds import build_run
    from .models import Build

    build = Build.objects.filter(pk=build_id).select_related("app").first()
    if build is None:
        return "build deleted"
    return build_run(build=build).status


@shared_task(name="deployments.release_deploy")
def release_deploy_task(release_id: int) -> str:
    from .models import Release
    from .production import release_deploy

    release = Release.objects.filter(pk=release_id).select_related("app", "build").first()
    if release is None:
        return "release deleted"
    return release_deploy(release=release).status


# Expires as the next one is due: a check that waits in a queue behind busy workers is stale.
@shared_task(name="deployments.dev_health", expires=5, acks_late=False)
def dev_health_task() -> dict:
    from .dev_health import dev_health_check

    return dev_health_check()


@shared_task(name="deployments.prod_errors", expires=15, acks_late=False)
def prod_errors_task() -> dict:
    from .prod_health import prod_errors_check

    return prod_errors_check()


@shared_task(name="deployments.auto_publish", acks_late=False)
def auto_publish_task() -> list[str]:
    from .builds import auto_publish

    return auto_publish()


@shared_task(name="deployments.prod_reconcile")
def prod_reconcile_task() -> dict:
    from .builds import build_caches_reconcile, build_reconcile
    from .production import prod_reconcile

    return {"builds_failed": build_reconcile(), **prod_reconcile(), "build_caches_removed": build_caches_reconcile()}


@worker_ready.connect(weak=False)
def _reconcile_on_start(sender=None, **_kwargs):
    # MGX (or just its worker) restarted: show the real state of the containers at once. A build
    # or deploy the dead worker was running is marked failed; the serving release is re-routed.
    # Any worker may take it, maybe only after this one has taken new boots: it ends the boots
    # the starting one (by name) was following before `since`.
    dev_reconcile_task.delay(worker=sender.hostname, since=life_started())
    prod_reconcile_task.delay()
