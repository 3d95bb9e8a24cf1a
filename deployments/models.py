from django.db import models


class DevEnvironment(models.Model):
    """The dev container of one app, as MGX last saw it (reconciled with Docker on start)."""

    class Phase(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        CREATING = "creating", "Creating container"
        INSTALLING = "installing", "Installing dependencies"
        STARTING = "starting", "Starting dev server"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    app = models.OneToOneField("sessions_app.App", on_delete=models.CASCADE, related_name="dev")
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.STOPPED)
    message = models.CharField(max_length=500, blank=True)
    # The last start-up step reached, so a failure can say where it happened.
    step = models.CharField(max_length=20, choices=Phase.choices, blank=True)
    container_id = models.CharField(max_length=80, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True)
    # The host port sshd is published on (MGX_SSH_BIND), while the container runs.
    ssh_port = models.PositiveIntegerField(null=True, blank=True)
    last_log = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The start-up steps, in order; a dev environment at any of them (ready included) is active.
    STEPS = (Phase.CREATING, Phase.INSTALLING, Phase.STARTING, Phase.READY)

    def __str__(self):
        return f"{self.app.slug}: {self.phase}"

    @property
    def is_active(self) -> bool:
        return self.phase in self.STEPS

    def step_state(self):
        """(label, state) for each start-up step: done, current, failed or todo."""
        order = [p.value for p in self.STEPS]
        failed = self.phase == self.Phase.FAILED
        at = self.step if failed else self.phase
        current = order.index(at) if at in order else -1
        out = []
        for i, step in enumerate(self.STEPS):
            if self.phase == self.Phase.READY or i < current:
                state = "done"
            elif i == current:
                state = "failed" if failed else "current"
            else:
                state = "todo"
            out.append((step.label, state))
        return out


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

    def __str__(self):
        return self.name
