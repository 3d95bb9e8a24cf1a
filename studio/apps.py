from django.apps import AppConfig


class StudioConfig(AppConfig):
    """The top floor: the pages a person works in (dashboard, the session page and its tabs) and
    the app lifecycle that composes every other app (create, delete). It may import any app;
    no app imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "studio"
    verbose_name = "Studio"
