from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Code every MGX app may import: announcements, domain errors and their translators, the
    MongoDB connection, health probes, the app-events websocket base. It imports no other MGX app."""

    name = "core"
    verbose_name = "MGX core"

    def ready(self):
        from .mongo import connect_mongo

        connect_mongo()
