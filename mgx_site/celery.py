import os
import socket

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgx_site.settings.base")

app = Celery("mgx_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def _instrument_worker(**_kwargs):
    from .otel import setup_celery_otel

    setup_celery_otel()


@app.task(name="mgx.echo")
def echo(value):
    """Round trip through the broker: says which worker process answered."""
    return {"value": value, "worker_pid": os.getpid(), "worker_host": socket.gethostname()}
