from channels.db import database_sync_to_async

from core.consumers import AppGroupConsumer

from .selectors import app_usable_by


class AppEventsConsumer(AppGroupConsumer):
    """`/ws/apps/<slug>/`: the session page's live events (Dev tab, files, runs, the app itself).
    Only the app's owner or an MGX admin may listen. The chat's agent events have their own
    socket (agents.consumers), so they are not forwarded here."""

    kinds = ("dev.status", "build.log", "build.status", "release.status", "workspace.changed", "run.status", "app.deleted",
             "database.changed", "members.changed", "telemetry.received", "telemetry.settings")

    async def may_listen(self, user, slug: str) -> bool:
        return await database_sync_to_async(app_usable_by)(user=user, slug=slug)
