from celery import shared_task


@shared_task(name="agents.run", acks_late=False)
def agent_run_task(run_id: str) -> str:
    # acks_late off: a run is never started twice because a worker died mid-run; the run's own
    # status tells the user what happened instead.
    from .runtime import run_execute

    return run_execute(run_id=run_id)
