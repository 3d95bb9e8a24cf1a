"""Running dev servers per user (MGX_MAX_DEV_SERVERS_PER_USER): each holds up to MGX_DEV_MEMORY
and MGX_DEV_CPUS of the machine, so one person's many apps cannot take it all. The limit
counts the servers of the apps a person owns that are starting or running (a stopped server
kept warm, paused, does not run); admins are not exempt (a limit is raised for everyone, in
the settings). Two starts at the very same moment may both pass the count."""
from django.conf import settings

from core.errors import LimitReached

from .models import DevEnvironment
from .services import DevError

Phase = DevEnvironment.Phase
RUNNING = (Phase.CREATING, Phase.INSTALLING, Phase.STARTING, Phase.READY)


class DevLimitReached(DevError, LimitReached):
    """A DevError, so the Dev tab shows it in place like any refused start."""


def dev_server_room(*, app) -> None:
    """Raises DevLimitReached when the app's owner already runs the most dev servers one person
    may (this app's own server is not counted: starting it again is no new server)."""
    limit = settings.MGX_MAX_DEV_SERVERS_PER_USER
    if not limit:
        return
    running = list(DevEnvironment.objects.filter(app__owner_id=app.owner_id, phase__in=RUNNING)
                   .exclude(app_id=app.pk).values_list("app__slug", flat=True)[:limit + 1])
    if len(running) >= limit:
        raise DevLimitReached(
            f"{app.owner.get_username()} runs {len(running)} dev server{'s' if len(running) != 1 else ''} already "
            f"({', '.join(running[:5])}), the most one person may run at once (MGX_MAX_DEV_SERVERS_PER_USER = "
            f"{limit}). Stop one to start this one; nothing was started.")
