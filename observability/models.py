"""Each app's ingest key: what its telemetry token is made from, and how long its data is kept.

The token itself is stored nowhere. It is `mgxi_<slug>.` + HMAC(SECRET_KEY, "otlp-ingest:<slug>:<salt>"):
MGX must hand the plaintext to every container it starts, so it has to be recoverable, and
deriving it keeps a copy of the SQL database (a backup, the admin) from yielding any token
without the secret key as well. Rotating draws a new random salt, so the old token stops
working at once (running containers keep sending it until they are restarted or redeployed).
An app that was never rotated has the empty salt, which gives the token MGX handed out before
this model existed, so containers started earlier keep working.
"""
from django.db import models


class IngestKey(models.Model):
    app = models.OneToOneField("sessions_app.App", on_delete=models.CASCADE, related_name="ingest_key")
    salt = models.CharField(max_length=64, blank=True, default="")
    rotated_at = models.DateTimeField(null=True, blank=True)
    # Days of traces and logs kept for this app; empty: MGX_OTLP_RETENTION_DAYS.
    retention_days = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"ingest key of {self.app_id}"
