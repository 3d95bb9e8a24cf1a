from django.db import models


class AppDatabase(models.Model):
    """The app's own MongoDB database (`app_<slug>`) on the apps' store (MGX_APPS_MONGO_URL).
    The row records that MGX made it and hands it to the app's containers as MONGODB_URL and
    MONGODB_DB; the documents themselves live in MongoDB, never in MGX's own `mgx` database."""

    app = models.OneToOneField("sessions_app.App", on_delete=models.CASCADE, related_name="database")
    name = models.CharField(max_length=64, unique=True)
    # Whether the `users` collection and its unique index on `sub` were made (the apps' store
    # may have been down when the row was; the next dev start or deploy tries again).
    provisioned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "app database"
        # Made by deployments (migration 0003) before the row moved here with the rest of the
        # app's database; the table keeps its name.
        db_table = "deployments_appdatabase"

    def __str__(self):
        return self.name
