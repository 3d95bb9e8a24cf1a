from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="deployments.dev_boot")
def dev_boot_task(app_id: int) -> str:
    from sessions_app.models import App

    from .services import dev_boot

    app = App.objects.filter(pk=app_id).first()
    if app is None:
        return "app deleted"
    return dev_boot(app=app).phase


@shared_task(name="deployments.dev_reap_idle")
def dev_reap_idle_task() -> list[str]:
    from .services import dev_reap_idle

    return dev_reap_idle()


@shared_task(name="deployments.dev_reconcile")
def dev_reconcile_task() -> dict:
    from .services import dev_reconcile

    return dev_reconcile()


@worker_ready.connect(weak=False)
def _reconcile_on_start(sender=None, **_kwargs):
    # MGX (or just its worker) restarted: show the real state of the containers at once.
    dev_reconcile_task.delay()
