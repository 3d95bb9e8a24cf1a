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
    # The Celery worker (node name) following the boot: when it dies mid-boot, nobody else will,
    # and the next worker that starts ends the boot (services.dev_reconcile).
    worker = models.CharField(max_length=200, blank=True)
    # The app's health while its dev server is ready (deployments.dev_health): "ok", "error", or
    # "" before the first check. The container can run while the app is broken (a compile error,
    # a crashed backend, a page that throws): that is what `error` says, its first lines.
    health = models.CharField(max_length=10, blank=True)
    error = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    # Up to when (epoch seconds) the container's output was read for error lines.
    logs_read_to = models.FloatField(null=True, blank=True)
    # What the preview's own page reported (an uncaught error, a failed request), until it reports
    # a clean load.
    page_error = models.TextField(blank=True)

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


class Build(models.Model):
    """One production build of an app: the image(s) made from one commit of its workspace.
    The output lives in MongoDB (deployments.documents.BuildLog); the row keeps the outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        BUILDING = "building", "Building"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.BUILDING)

    app = models.ForeignKey("sessions_app.App", on_delete=models.CASCADE, related_name="builds")
    number = models.PositiveIntegerField()  # 1, 2, 3 … per app
    commit = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    message = models.CharField(max_length=1000, blank=True)  # why it failed: the step and the error
    # {"app": {"tag": ..., "id": ...}} (Next.js) or {"backend": {...}, "frontend": {...}}
    images = models.JSONField(default=dict, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Publish: once this build succeeds it is deployed (a failed one deploys nothing).
    publish = models.BooleanField(default=False)
    step = models.CharField(max_length=200, blank=True)  # the step running now ("step 5/12 (RUN npm ci)")

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["app", "number"], name="build_number_per_app"),
            # One build per app at a time, held by the database so two requests cannot both win.
            models.UniqueConstraint(fields=["app"], condition=models.Q(status__in=["queued", "building"]),
                                    name="one_active_build_per_app"),
        ]

    def __str__(self):
        return f"{self.app.slug} build #{self.number} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def duration(self):
        """How long it ran (a timedelta), once it has finished; None before."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class AutoPublish(models.Model):
    """An app that publishes itself: every new commit is built and, if the build succeeds,
    deployed (deployments.builds.auto_publish, debounced by MGX_AUTO_PUBLISH_DELAY)."""

    app = models.OneToOneField("sessions_app.App", on_delete=models.CASCADE, related_name="auto_publish")
    enabled = models.BooleanField(default=False)
    by = models.CharField(max_length=150, blank=True)  # who switched it on (the builds it starts are theirs)
    updated_at = models.DateTimeField(auto_now=True)


class Release(models.Model):
    """One deployment of a build: its container(s), and whether the gateway sends prod traffic
    to it. At most one release of an app is live; a rollback is a new release of an older build."""

    class Status(models.TextChoices):
        STARTING = "starting", "Starting"
        LIVE = "live", "Live"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"

    app = models.ForeignKey("sessions_app.App", on_delete=models.CASCADE, related_name="releases")
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="releases")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTING)
    message = models.CharField(max_length=1000, blank=True)
    health = models.CharField(max_length=200, blank=True)  # the last health check's answer
    last_log = models.TextField(blank=True)  # the container's last lines when it failed (secrets masked)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    containers = models.JSONField(default=dict, blank=True)  # role -> container id
    network = models.CharField(max_length=120, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    live_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # While live, how it has been failing lately (deployments.prod_health): requests, failing,
    # error_logs, over (past the threshold), traces/logs (the newest failing ids), minutes.
    errors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["app", "number"], name="release_number_per_app"),
            models.UniqueConstraint(fields=["app"], condition=models.Q(status="starting"), name="one_starting_release_per_app"),
            models.UniqueConstraint(fields=["app"], condition=models.Q(status="live"), name="one_live_release_per_app"),
        ]

    def __str__(self):
        return f"{self.app.slug} release #{self.number} ({self.status})"

    @property
    def failing(self) -> bool:
        """Live and past the error threshold: the "Errors" badge."""
        return self.status == self.Status.LIVE and bool((self.errors or {}).get("over"))


class AppEnvVar(models.Model):
    """A variable the app's production containers get besides the template contract's. A secret
    one's value is write-only: no page, API answer, event or log shows it after it was saved."""

    app = models.ForeignKey("sessions_app.App", on_delete=models.CASCADE, related_name="env_vars")
    name = models.CharField(max_length=100)
    value = models.TextField(blank=True)
    secret = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="env_var_name_per_app")]
        verbose_name = "app environment variable"

    def __str__(self):
        return f"{self.app.slug}: {self.name}"
