"""Production builds: the app's image(s) made from one commit of its workspace by MGX's own
builder (containers.builder): every step of the app's Dockerfile runs inside the app's sandbox
(uid 1000, no capabilities, its own network, MGX_BUILD_* limits), never in the engine's builder.
An image whose folder did not change since the last successful build is used again.

- Next.js: one image `mgx-app/<slug>:<commit>` from the whole workspace.
- FastAPI + Vite: `mgx-app/<slug>-backend:<commit>` from backend/ and
  `mgx-app/<slug>-frontend:<commit>` from frontend/.

The build context is `git archive` of the commit (workspaces.git, sandboxed), never the live
folder a dev container may be writing. Images get the base path `/apps/<slug>/prod` and the
runtime image as build arguments, and MGX's labels; rows keep the image ids, so a tag moved by a
later build of the same commit never changes what a release runs.

Output goes to MongoDB (documents.BuildLog) in batches and to the app's group (`build.log`), so
the Prod tab shows it live and after a reload. One build per app at a time, held by a partial
unique index on the Build table. `build_request` queues; the Celery task runs `build_run`.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import re
import time

import docker
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from containers import builder
from containers.docker_client import (
    DockerUnavailable,
    client,
    container_name,
    instance_id,
    labels,
)
from containers.frameworks import framework
from containers.sandbox import app_network_ensure, sandbox
from core.announce import announce, model_update
from core.errors import Conflict, MgxError
from sessions_app.selectors import last_change
from workspaces import git
from workspaces.services import workspace_for

from .documents import BuildLog
from .envvars import mask, secret_values
from .models import AutoPublish, Build, Release
from .production import release_request

log = logging.getLogger(__name__)
Status = Build.Status
TAIL_LINES = 30
FLUSH_SECONDS = 0.5
FLUSH_LINES = 100
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class BuildError(Conflict):
    """A build cannot be started now (one is running, no commit yet); the message says why."""


class BuildUnavailable(BuildError):
    kind = "unavailable"


def image_repository(*, slug: str, role: str) -> str:
    return f"mgx-app/{slug}" if role == "app" else f"mgx-app/{slug}-{role}"


def _announce(build: Build) -> None:
    announce(slug=build.app.slug, kind="build.status",
             data={"build": build.pk, "number": build.number, "status": build.status, "message": build.message,
                   "step": build.step, "publish": build.publish})


def _save(build: Build, **changes) -> Build:
    return model_update(build, announced=_announce, **changes)


def build_request(*, app, user=None, publish: bool = False, by: str = "") -> Build:
    """Queue a build of the workspace's newest commit; `publish`: deploy it once it succeeds (a
    failed build deploys nothing). BuildError when one is already running or the workspace has
    no commit; BuildUnavailable when the Docker engine does not answer. `by`: who asked, when no
    user did (auto-publish)."""
    from .tasks import build_run_task

    running = Build.objects.filter(app=app, status__in=Build.ACTIVE).first()
    if running:
        raise BuildError(f"Build #{running.number} of this app is still running; wait for it to finish.")
    commit = git.head(workspace_for(app).root)
    if not commit:
        raise BuildError("The workspace has no saved version yet: save a file first.")
    try:
        client()
    except DockerUnavailable as exc:
        raise BuildUnavailable(str(exc)) from exc
    try:
        with transaction.atomic():
            number = (Build.objects.filter(app=app).aggregate(n=Max("number"))["n"] or 0) + 1
            build = Build.objects.create(app=app, number=number, commit=commit, status=Status.QUEUED, publish=publish,
                                         created_by=user.get_username() if user else (by or "MGX"),
                                         message="Queued, to be deployed once it succeeds" if publish else "Queued")
    except IntegrityError as exc:
        # Another request won the race (the partial unique index holds one active build).
        raise BuildError("A build of this app is already running; wait for it to finish.") from exc
    _announce(build)
    transaction.on_commit(lambda: build_run_task.delay(build.pk))
    return build


class _LogWriter:
    """Lines to MongoDB and to the page in batches (a build prints thousands of lines). Past
    MGX_BUILD_LOG_MAX_LINES only the last TAIL_LINES are kept, written when the build ends: a
    build printing without end fills neither MongoDB nor the page."""

    def __init__(self, build: Build):
        self.build = build
        self.seq = BuildLog.objects(build=build.pk).count()
        self.pending: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.flushed_at = time.monotonic()
        self.secrets = secret_values(app=build.app)
        self.kept = 0
        self.left_out = 0

    def line(self, text: str) -> None:
        text = mask(text, self.secrets)
        self.tail.append(text)
        if self.kept >= settings.MGX_BUILD_LOG_MAX_LINES:
            self.left_out += 1
            return
        self.kept += 1
        self.pending.append(text)
        if self.kept == settings.MGX_BUILD_LOG_MAX_LINES:
            self.pending.append(f"==> the output is longer than {settings.MGX_BUILD_LOG_MAX_LINES} lines; "
                                "its last lines follow when the build ends")
        if len(self.pending) >= FLUSH_LINES or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()

    def note(self, text: str) -> None:
        """A line of MGX's own (the verdict): kept whatever the cap."""
        self.pending.append(mask(text, self.secrets))

    def end(self) -> None:
        if self.left_out:
            self.pending.append(f"==> {self.left_out - min(self.left_out, len(self.tail))} lines left out")
            self.pending.extend(list(self.tail)[-min(self.left_out, len(self.tail)):])
            self.left_out = 0
        self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        lines, self.pending = self.pending, []
        self.seq += 1
        try:
            BuildLog(build=self.build.pk, seq=self.seq, lines=lines).save()
        except Exception as exc:  # the build goes on; the page still gets the lines live
            log.warning("build %s: storing output failed: %s", self.build.pk, exc)
        announce(slug=self.build.app.slug, kind="build.log", data={"build": self.build.pk, "lines": lines})


def _reusable(engine, *, build: Build, role: str, tree: str, base: str):
    """The image an earlier successful build of this app made from the very same context (same
    git tree, same runtime base): a change elsewhere in the workspace (the backend's code, say) leaves the other
    image as it was, so it is tagged again instead of built again."""
    earlier = (Build.objects.filter(app=build.app, status=Status.SUCCEEDED).exclude(pk=build.pk)
               .order_by("-number").first())
    made = ((earlier.images or {}).get(role) or {}) if earlier else {}
    if made.get("tree") != tree or made.get("base") != base:
        return None
    try:
        return engine.images.get(made["id"])
    except docker.errors.ImageNotFound:
        return None


def build_bases(engine) -> dict[str, str]:
    """The images a Dockerfile may name in FROM (in full) and their ids: MGX's own runtime and
    base images, nothing an app built or any other local image."""
    bases = {}
    for name in (settings.MGX_RUNTIME_IMAGE, settings.MGX_BASE_IMAGE):
        try:
            bases[name] = engine.images.get(name).id
        except docker.errors.ImageNotFound:
            continue
    return bases


def _build_image(engine, *, build: Build, role: str, folder: str, out: _LogWriter, base: str, deadline: float,
                 nocache: bool = False) -> dict:
    app = build.app
    root = workspace_for(app).root
    tree = git.tree_id(root, build.commit, subdir=folder)
    repository = image_repository(slug=app.slug, role=role)
    tag = f"{repository}:{build.commit}"
    same = None if nocache else _reusable(engine, build=build, role=role, tree=tree, base=base)
    if same is not None:
        same.tag(tag)
        out.line(f"==> {tag}: {folder or 'the workspace'}/ is unchanged since the last build; its image "
                 f"({same.id[7:19]}) is used again")
        return {"tag": tag, "id": same.id, "tree": tree, "base": base}
    context = git.archive(root, build.commit, subdir=folder)
    out.line(f"==> building {tag}" + (f" from {folder}/" if folder else ""))
    step = ""

    def line(text: str) -> None:
        nonlocal step
        match = _STEP.match(text)
        if match:
            step = f"step {match[1]}/{match[2]} ({match[3][:100]})"
            # The page's timer says what runs now ("Building… 1:12 · backend, step 3/9").
            _save(build, step=(f"{role}, " if role != "app" else "") + step[:180])
        out.line(text)

    try:
        image_id = builder.build_image(
            engine, context=context, repository=repository, tag=build.commit,
            build_args={"BASE_IMAGE": settings.MGX_RUNTIME_IMAGE, "MGX_BASE_PATH": f"/apps/{app.slug}/prod"},
            bases=build_bases(engine),
            confinement=sandbox(kind="build", network=app_network_ensure(slug=app.slug), writable_root=True),
            labels={**labels(slug=app.slug, role="build"), "mgx.build": str(build.pk)},
            image_labels={**labels(slug=app.slug, role=f"image-{role}"), "mgx.build": str(build.pk),
                          "mgx.commit": build.commit},
            name=container_name(slug=app.slug, role=f"build{build.pk}-{role}"), out=line,
            timeout=max(1.0, deadline - time.monotonic()))
    except builder.BuildFailed as exc:
        reason = str(exc).rstrip(".")
        if reason.startswith(("line ", "There is no Dockerfile", "A Dockerfile", "The Dockerfile")):
            raise _Failed(f"The {role} image cannot be built: {reason}.") from exc
        where = f" at {step}" if step and "at step" not in reason else ""
        raise _Failed(f"Building the {role} image failed{where}: {reason}.") from exc
    out.line(f"==> {tag} built ({image_id[7:19]})")
    return {"tag": tag, "id": image_id, "tree": tree, "base": base}


class _Failed(Exception):
    pass


def build_run(*, build: Build, nocache: bool = False) -> Build:
    """Build the images of a queued build (the Celery task's body). Every outcome is saved on the
    row and announced; the serving release is never touched by a build. `nocache`: a cold build
    (bench/build.py measures one)."""
    build.refresh_from_db()
    if build.status != Status.QUEUED:
        return build  # done already, or marked failed when a worker restarted
    _save(build, status=Status.BUILDING, message="Building", started_at=timezone.now())
    out = _LogWriter(build)
    images = {}
    try:
        engine = docker.DockerClient(base_url=settings.MGX_DOCKER_HOST, timeout=settings.MGX_BUILD_TIMEOUT)
        try:
            try:
                base = engine.images.get(settings.MGX_RUNTIME_IMAGE).id
            except docker.errors.ImageNotFound:
                raise _Failed(f"The runtime image {settings.MGX_RUNTIME_IMAGE} is missing: run ./mgx images.")
            deadline = time.monotonic() + settings.MGX_BUILD_TIMEOUT
            for role, folder in framework(build.app.framework).images:
                images[role] = _build_image(engine, build=build, role=role, folder=folder, out=out, base=base,
                                            deadline=deadline, nocache=nocache)
        finally:
            engine.close()
    except _Failed as exc:
        return _fail(build, out, str(exc))
    except git.GitError as exc:
        return _fail(build, out, f"The build context could not be made from commit {build.commit[:8]}: {exc}")
    except Exception as exc:  # the engine went away, a read timed out: the row must still settle
        log.exception("build %s failed", build.pk)
        return _fail(build, out, f"The build stopped: {type(exc).__name__}: {str(exc)[:300]}")
    out.end()
    built = _save(build, status=Status.SUCCEEDED, message=f"Built {len(images)} image{'s' if len(images) > 1 else ''}",
                  images=images, finished_at=timezone.now(), step="")
    if built.publish:
        _publish(built, out)
    return built


def _publish(build: Build, out: _LogWriter) -> None:
    """The second half of Publish: deploy the build that just succeeded. A deploy that cannot
    start now (another release is starting, the engine went away) says so in the build's output
    and on the row; the build itself stays a success."""
    try:
        release = release_request(app=build.app, build_id=build.pk, by=build.created_by)
    except MgxError as exc:
        out.note(f"==> Not deployed: {exc}")
        out.flush()
        _save(build, message=f"{build.message}; not deployed: {exc}"[:1000])
        return
    out.note(f"==> Deploying it as release #{release.number}")
    out.flush()


def _fail(build: Build, out: _LogWriter, message: str) -> Build:
    out.end()
    if build.publish:
        live = Release.objects.filter(app=build.app, status=Release.Status.LIVE).first()
        message += " Nothing was deployed" + (f": release #{live.number} keeps serving." if live else ".")
    out.note(f"==> {message}")
    out.flush()
    return _save(build, status=Status.FAILED, message=mask(message, out.secrets)[:1000], finished_at=timezone.now(),
                 step="")


def build_reconcile() -> list[int]:
    """At worker start: a build that was queued or running when the worker died is marked failed
    (its task, if redelivered, then does nothing); the images it may have half-made are
    untagged layers the engine's cache keeps, nothing serves them."""
    failed = []
    for build in Build.objects.filter(status__in=Build.ACTIVE).select_related("app"):
        _save(build, status=Status.FAILED, message="MGX's worker stopped during this build; start a new one.",
              finished_at=timezone.now())
        BuildLog(build=build.pk, seq=BuildLog.objects(build=build.pk).count() + 1,
                 lines=["==> MGX's worker stopped during this build."]).save()
        failed.append(build.pk)
    if failed:
        _remove_build_containers(filters=[f"mgx.build={pk}" for pk in failed], any_of=True)
    return failed


def _remove_build_containers(*, filters: list[str], any_of: bool = False) -> None:
    """The stage containers of builds (label filters, all of them or `any_of`); a build the
    worker died in leaves them behind."""
    try:
        engine = client()
    except DockerUnavailable:
        return
    groups = [[f] for f in filters] if any_of else [filters]
    for group in groups:
        found = engine.containers.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", "mgx.role=build",
                                                                    *group]})
        for container in found:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass


def builds_purge(*, app) -> None:
    """The app is being deleted: its build output and its images go."""
    ids = list(Build.objects.filter(app=app).values_list("pk", flat=True))
    BuildLog.objects(build__in=ids).delete()
    _remove_build_containers(filters=[f"mgx.app={app.slug}"])
    try:
        engine = client()
        for image in engine.images.list(filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={app.slug}"]}):
            try:
                engine.images.remove(image.id, force=True)
            except docker.errors.APIError:
                pass
    except DockerUnavailable:
        pass


# ------------------------------------------------------------------------------ auto-publish

def auto_publish_set(*, app, enabled: bool, user) -> AutoPublish:
    """Switch the app's auto-publish on or off. On: every new commit is built and, if the build
    succeeds, deployed (auto_publish below), the builds named after who switched it on."""
    setting, _ = AutoPublish.objects.get_or_create(app=app)
    setting.enabled = bool(enabled)
    setting.by = user.get_username() if user else "MGX"
    setting.save()
    announce(slug=app.slug, kind="build.status", data={
        "build": 0, "number": 0, "status": "auto_publish_on" if setting.enabled else "auto_publish_off",
        "message": f"Auto-publish {'on' if setting.enabled else 'off'} ({setting.by})", "step": "", "publish": False})
    return setting


def auto_publish(*, now=None) -> list[str]:
    """Celery beat, every few seconds: publish each app with auto-publish on whose newest commit
    has no build yet, once that commit is MGX_AUTO_PUBLISH_DELAY seconds old (a burst of saves
    or the team's run becomes one build) and no build of the app is running. A commit whose
    build failed is not built again by itself. The slugs it started a Publish for."""
    now = now or timezone.now()
    started = []
    for setting in AutoPublish.objects.filter(enabled=True).select_related("app"):
        app = setting.app
        change = last_change(app=app)
        if change is None or _age(change["date"], now) < settings.MGX_AUTO_PUBLISH_DELAY:
            continue
        newest = Build.objects.filter(app=app).first()
        if newest is not None and (newest.is_active or newest.commit == change["sha"]):
            continue
        try:
            build_request(app=app, publish=True, by=f"auto-publish ({setting.by})")
        except MgxError as exc:  # the engine away, a build started meanwhile: the next pass tries again
            log.info("auto-publish of %s not started: %s", app.slug, exc)
            continue
        started.append(app.slug)
    return started


def _age(iso_date: str, now) -> float:
    """Seconds since a commit's date (git's ISO 8601); a date that cannot be read counts as old."""
    try:
        return (now - dt.datetime.fromisoformat(iso_date)).total_seconds()
    except (TypeError, ValueError):
        return float("inf")
