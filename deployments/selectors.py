from django.conf import settings

from .models import DevEnvironment


def dev_for_app(*, app) -> DevEnvironment:
    """The app's dev environment row (an unsaved 'stopped' one when it never ran)."""
    return DevEnvironment.objects.filter(app=app).first() or DevEnvironment(app=app)


def dev_summary(*, app) -> dict:
    dev = dev_for_app(app=app)
    return {
        "phase": dev.phase,
        "message": dev.message,
        "url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/dev/",
        "ready_at": dev.ready_at.isoformat() if dev.ready_at else None,
        "log_tail": dev.last_log.splitlines()[-20:],
    }
