from urllib.parse import urlsplit

from django.conf import settings

from core.errors import MgxError

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


def output_targets(*, app) -> list[str]:
    """The container roles the Logs and Terminal tabs offer: dev, and each production container
    once there are any. Just dev when the engine does not answer (the socket says why)."""
    from .logs import log_targets

    try:
        return log_targets(app=app)
    except MgxError:
        return ["dev"]


def ssh_access(*, app) -> dict | None:
    """How to reach the running dev container over SSH: host, port, the command and an
    ~/.ssh/config snippet. None while no container publishes sshd."""
    dev = dev_for_app(app=app)
    if not (dev.is_active and dev.ssh_port):
        return None
    host = settings.MGX_SSH_HOST or urlsplit(settings.MGX_PUBLIC_URL).hostname or "localhost"
    alias = f"mgx-{app.slug}"
    return {
        "host": host,
        "port": dev.ssh_port,
        "user": "app",
        "command": f"ssh -p {dev.ssh_port} app@{host}",
        # The host key stays while the app's cache volume does; a new port each start, so the
        # known_hosts entry is keyed by the alias, not by host:port.
        "config": f"Host {alias}\n  HostName {host}\n  Port {dev.ssh_port}\n  User app\n  HostKeyAlias {alias}\n",
        "alias": alias,
    }
