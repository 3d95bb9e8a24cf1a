from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="agents.run", acks_late=False)
def agent_run_task(run_id: str) -> str:
    # acks_late off: a run is never started twice because a worker died mid-run; the run's own
    # status tells the user what happened instead.
    from .runtime import run_execute

    return run_execute(run_id=run_id)


@shared_task(name="agents.reconcile")
def runs_reconcile_task() -> list[str]:
    from .runtime import runs_reconcile

    return runs_reconcile()


@worker_ready.connect(weak=False)
def _reconcile_on_start(sender=None, **_kwargs):
    runs_reconcile_task.delay()
