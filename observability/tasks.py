from celery import shared_task


@shared_task(name="observability.retention_enforce", acks_late=False)
def retention_enforce():
    from . import services

    return services.retention_enforce()
