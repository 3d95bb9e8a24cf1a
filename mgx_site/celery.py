import os
import socket

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")

app = Celery("mgx_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def _instrument_worker(**_kwargs):
    from .otel import setup_celery_otel

    setup_celery_otel()


@worker_init.connect(weak=False)
def _guard_acks(**_kwargs):
    # In the worker's main process, before its consumer starts: kombu 5.7 crashes the consumer
    # on an ack after Redis restarted under it (core.broker). Not at import: the CLI imports
    # this package too, and needs no broker.
    from core.broker import install

    install()


@worker_init.connect(weak=False)
def _life_begins(**_kwargs):
    # In the worker's main process, before its pool takes any task: what it takes from now on
    # belongs to this life, not to the one whose work the start-up reconciles end.
    from core.workers import life_begins

    life_begins()


_heartbeat = {}


@worker_ready.connect(weak=False)
def _heartbeat_start(sender=None, **_kwargs):
    # In the worker's main process, which lives as long as the worker: a run it owns is
    # orphaned only once this stops (core.workers).
    from core.workers import heartbeat_thread_start

    _heartbeat[sender.hostname] = heartbeat_thread_start(name=sender.hostname)


@worker_shutdown.connect(weak=False)
def _heartbeat_stop(sender=None, **_kwargs):
    from core.workers import worker_gone

    for name, stop in list(_heartbeat.items()):
        stop.set()
        try:
            worker_gone(name=name)
        except Exception:  # a shutdown must not fail on Redis; the key then expires by itself
            pass


@app.task(name="mgx.echo")
def echo(value):
    """Round trip through the broker: says which worker process answered."""
    return {"value": value, "worker_pid": os.getpid(), "worker_host": socket.gethostname(),
            "worker": echo.request.hostname}
