from django.db import models


class LastChange(models.Model):
    """The newest commit of an app's workspace, saved by the workspace services as they commit.

    Why stored, not read from git or cached: the dashboard and `/api/sessions` show each app's
    last change, and asking git cost one subprocess per app per load. Every commit MGX makes goes
    through `workspaces.services` (the git directory is outside every container's reach, so
    nothing else can commit), so the row written there is always the repository's HEAD, and a
    list of apps reads it in the same query as the apps (`select_related("last_change")`).
    A cache keyed by the repository's HEAD would still read a file per app per load and need a
    cache shared by every process; this needs neither. The row goes with its app (cascade)."""

    app = models.OneToOneField("sessions_app.App", on_delete=models.CASCADE, primary_key=True,
                               related_name="last_change")
    sha = models.CharField(max_length=40)
    author = models.CharField(max_length=100)
    date = models.CharField(max_length=40)  # git's ISO 8601, as the history shows it
    message = models.TextField()

    def as_dict(self) -> dict:
        return {"sha": self.sha, "message": self.message, "author": self.author, "date": self.date}

    def __str__(self) -> str:
        return f"{self.sha[:8]} {self.message}"
