"""The agent team's Celery tasks: each calls one service (agents.services), which sends
"agents.run" by name, so this module and the services do not import each other in a circle."""
from celery import shared_task
from celery.signals import worker_ready

from core.errors import Unavailable
from core.workers import life_started

from . import services


# No retries, and acks_late off: by the time this fails, the run may have started a container,
# made a token and written to the workspace; running it again would start the team a second
# time on the same message. A run is never repeated behind the user's back: its own status (and
# the chat's ERROR event) tells them what happened, and they send the message again.
@shared_task(name="agents.run", acks_late=False, bind=True)
def agent_run_task(self, run_id: str) -> str:
    return services.run_execute(run_id=run_id, worker=self.request.hostname or "")


# Retried while the Docker engine is not answering yet (a worker often starts with it): a pass
# ends only what is still queued or running and removes only stray containers, so running it
# again after a partial pass does nothing twice.
@shared_task(name="agents.reconcile", autoretry_for=(Unavailable,), retry_backoff=5, retry_backoff_max=60,
             max_retries=10)
def runs_reconcile_task(worker: str = "", since: float | None = None) -> list[str]:
    return services.runs_reconcile(worker=worker, since=since)


# Edits made over SSH reach History within MGX_DEV_COMMIT_INTERVAL seconds (Celery beat).
@shared_task(name="agents.dev_changes_commit", acks_late=False)
def dev_changes_commit_task() -> list[str]:
    return services.dev_changes_commit()


@worker_ready.connect(weak=False)
def _reconcile_on_start(sender=None, **_kwargs):
    # Any worker may pick the task up, maybe only after this one has taken new runs: it ends the
    # runs the one that started (by name) took before `since`.
    runs_reconcile_task.delay(worker=sender.hostname, since=life_started())
