"""Reads of the deployments floor: the dev environment, SSH access, what the Logs and Terminal
tabs offer, and production (builds, their output, releases, the Prod tab's overview). Views,
the API and the session page call these; the services only write."""
import datetime as dt
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from core.errors import MgxError, NotFound
from observability.selectors import RANGES

from .documents import BuildLog
from .logs import log_targets
from .models import AppEnvVar, AutoPublish, Build, DevEnvironment, Release

LOG_LINES = 40  # of a release's last log kept on its row


def dev_for_app(*, app) -> DevEnvironment:
    """The app's dev environment row (an unsaved 'stopped' one when it never ran)."""
    return DevEnvironment.objects.filter(app=app).first() or DevEnvironment(app=app)


def dev_running_apps() -> list:
    """The apps whose dev server is booting, ready or kept running."""
    return [dev.app for dev in DevEnvironment.objects.filter(phase__in=DevEnvironment.STEPS).select_related("app")]


def dev_summary(*, app) -> dict:
    dev = dev_for_app(app=app)
    return {
        "phase": dev.phase,
        "message": dev.message,
        "url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/dev/",
        "ready_at": dev.ready_at.isoformat() if dev.ready_at else None,
        "log_tail": dev.last_log.splitlines()[-20:],
        "health": dev.health if dev.phase == DevEnvironment.Phase.READY else "",
        "error": dev.error if dev.phase == DevEnvironment.Phase.READY else "",
    }


def output_targets(*, app) -> list[str]:
    """The container roles the Logs and Terminal tabs offer: dev, and each production container
    once there are any. Just dev when the engine does not answer (the socket says why)."""
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


# ------------------------------------------------------------------------------ production

def build_get(*, app, build_id: int) -> Build:
    build = Build.objects.filter(app=app, pk=build_id).first()
    if build is None:
        raise NotFound("No such build of this app.")
    return build


def builds_list(*, app, limit: int = 100):
    return Build.objects.filter(app=app)[:limit]


def build_log_lines(*, build: Build, limit: int = 5000) -> list[str]:
    lines: list[str] = []
    for chunk in BuildLog.objects(build=build.pk).order_by("seq"):
        lines.extend(chunk.lines)
    return lines[-limit:]


def build_summary(build: Build) -> dict:
    duration = build.duration
    return {
        "id": build.pk, "number": build.number, "commit": build.commit, "status": build.status,
        "message": build.message, "images": {role: info["tag"] for role, info in (build.images or {}).items()},
        "created_by": build.created_by, "created_at": build.created_at.isoformat(),
        "started_at": build.started_at.isoformat() if build.started_at else None,
        "finished_at": build.finished_at.isoformat() if build.finished_at else None,
        "duration_seconds": round(duration.total_seconds(), 1) if duration else None,
        "step": build.step, "publish": build.publish,
    }


def releases_list(*, app, limit: int = 100):
    return Release.objects.filter(app=app).select_related("build")[:limit]


def release_summary(release: Release) -> dict:
    return {
        "id": release.pk, "number": release.number, "status": release.status, "message": release.message,
        "health": release.health, "build": release.build_id, "build_number": release.build.number,
        "commit": release.build.commit, "images": {r: i["tag"] for r, i in (release.build.images or {}).items()},
        "created_by": release.created_by, "created_at": release.created_at.isoformat(),
        "live_at": release.live_at.isoformat() if release.live_at else None,
        "rollback_of": release.rollback_of_id, "log_tail": release.last_log.splitlines()[-LOG_LINES:],
        "errors": _errors_out(release),
    }


def _errors_out(release: Release) -> dict | None:
    """A live release's errors of the last minutes (deployments.prod_health), once counted."""
    found = release.errors or {}
    if release.status != Release.Status.LIVE or "count" not in found:
        return None
    keys = ("count", "failing", "error_logs", "requests", "rate", "over", "minutes", "traces")
    return {**{k: found.get(k) for k in keys}, "traces_url": failing_traces_url(app=release.app)}


def prod_status(*, app) -> dict:
    live = Release.objects.filter(app=app, status=Release.Status.LIVE).select_related("build").first()
    latest = Release.objects.filter(app=app).select_related("build").first()
    build = Build.objects.filter(app=app).first()
    return {
        "url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/prod/",
        "status": "live" if live else ("starting" if latest and latest.status == Release.Status.STARTING
                                       else "not_deployed"),
        "live": release_summary(live) if live else None,
        "latest_release": release_summary(latest) if latest else None,
        "latest_build": build_summary(build) if build else None,
        "building": bool(build and build.is_active),
        "auto_publish": auto_publish_on(app=app),
    }


def auto_publish_on(*, app) -> bool:
    return AutoPublish.objects.filter(app=app, enabled=True).exists()


def deploy_candidate(*, app) -> dict | None:
    """What "Deploy" would put live: the newest successful build, and the newer builds it skips
    (failed or still running), so the button can name the build and ask first."""
    good = Build.objects.filter(app=app, status=Build.Status.SUCCEEDED).first()
    if good is None:
        return None
    skipped = list(Build.objects.filter(app=app, number__gt=good.number).order_by("number"))
    question = ""
    if skipped:
        newer = ", ".join(f"build #{b.number} {b.get_status_display().lower()}" for b in skipped)
        question = f"Newer: {newer}. Deploy build #{good.number} (commit {good.commit[:8]}) anyway?"
    return {"build": good, "skipped": skipped, "question": question}


def env_var_list(*, app) -> list[dict]:
    """What the page and the API show: a secret's value never."""
    return [{"name": v.name, "secret": v.secret, "value": None if v.secret else v.value,
             "updated_at": v.updated_at.isoformat()} for v in AppEnvVar.objects.filter(app=app)]


def prod_tab(*, app) -> dict:
    """Everything the Prod tab shows: status, the live release, history, builds, the newest
    build's output, the app's variables."""
    latest_build = Build.objects.filter(app=app).first()
    return {
        "app": app,
        "prod": prod_status(app=app),
        "live": Release.objects.filter(app=app, status=Release.Status.LIVE).select_related("build").first(),
        "releases": releases_list(app=app, limit=30),
        "builds": builds_list(app=app, limit=10),
        "candidate": deploy_candidate(app=app),
        "auto_publish": auto_publish_on(app=app),
        "latest_build": latest_build,
        "build_log": build_log_lines(build=latest_build, limit=400) if latest_build else [],
        "env_vars": env_var_list(app=app),
        "has_success": Build.objects.filter(app=app, status=Build.Status.SUCCEEDED).exists(),
        "errors_url": failing_traces_url(app=app),
    }


# ------------------------------------------------------------------------------ at a glance

def app_badges(*, app) -> dict:
    """What the session page's header shows of the app's servers: the dev server's phase, the
    live release, and a build under way (with its step, for the timer)."""
    return {"dev": dev_for_app(app=app),
            "live": Release.objects.filter(app=app, status=Release.Status.LIVE).select_related("build").first(),
            "starting": Release.objects.filter(app=app, status=Release.Status.STARTING).exists(),
            "building": Build.objects.filter(app=app, status__in=Build.ACTIVE).first(),
            "prod_url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/prod/"}


def prod_at_a_glance(*, apps) -> dict:
    """For a list of apps (the dashboard): per app id, its live release (who deployed it, when),
    a build under way, a release starting, and its prod URL. Three queries, whatever the count."""
    ids = [app.pk for app in apps]
    live = {r.app_id: r for r in Release.objects.filter(app_id__in=ids, status=Release.Status.LIVE)}
    starting = set(Release.objects.filter(app_id__in=ids, status=Release.Status.STARTING).values_list("app_id", flat=True))
    building = {b.app_id: b for b in Build.objects.filter(app_id__in=ids, status__in=Build.ACTIVE)}
    return {app.pk: {"live": live.get(app.pk), "starting": app.pk in starting, "building": building.get(app.pk),
                     "url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/prod/",
                     "errors_url": failing_traces_url(app=app)} for app in apps}


def window_range() -> str:
    """The Traces tab's time range that covers the error window (one of its filter's choices)."""
    window = dt.timedelta(minutes=settings.MGX_PROD_ERROR_WINDOW_MINUTES)
    return next((key for key, span in RANGES.items() if span >= window), "7d")


def failing_traces_url(*, app) -> str:
    """The session page's Traces tab showing production's failing traces of the error window."""
    return reverse("studio:detail", args=[app.slug]) + f"?tab=traces&stage=prod&status=error&range={window_range()}"
