"""Production builds: the app's image(s) made from one commit of its workspace by MGX's own
builder (containers.builder): every step of the app's Dockerfile runs inside the app's sandbox
(uid 1000, no capabilities, its own network, MGX_BUILD_* limits), never in the engine's builder.
An image whose folder did not change since the last successful build is used again, and
within a build the steps an earlier build of the same app already made are reused
(containers.builder.StepCache: images labelled with the app, pruned when a later successful build
no longer uses them, removed with the app). Each app has a build cache volume of its own
(npm's and pip's caches, `RUN --mount=type=cache` folders such as Next.js's `.next/cache`),
mounted in its build stages only and removed with the app.

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
    build_cache_volume_name,
    client,
    container_name,
    instance_id,
    labels,
    remove_images,
)
from containers.frameworks import framework
from containers.sandbox import app_network_ensure, sandbox
from core.announce import announce, model_update
from core.errors import Conflict, MgxError
from sessions_app.models import App
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
    image as it was, so it is tagged again instead of built again. With it, the keys of the steps
    it was built with: they stay in use (a later change there starts from them)."""
    earlier = (Build.objects.filter(app=build.app, status=Status.SUCCEEDED).exclude(pk=build.pk)
               .order_by("-number").first())
    made = ((earlier.images or {}).get(role) or {}) if earlier else {}
    if made.get("tree") != tree or made.get("base") != base:
        return None, []
    try:
        return engine.images.get(made["id"]), made.get("steps") or []
    except docker.errors.ImageNotFound:
        return None, []


STEP_ROLE = "build-step"
CACHE_ROLE = "build-cache"


def _identity(app) -> str:
    """What makes this app this app, for keys and labels: a later app given the same slug is
    another app, whose builds never start from what this one left."""
    return f"{app.pk}:{app.created_at.isoformat()}"


def _step_cache(engine, *, app, nocache: bool) -> builder.StepCache:
    return builder.StepCache(engine=engine, seed=f"{instance_id()}:{app.slug}:{_identity(app)}",
                             labels=labels(slug=app.slug, role=STEP_ROLE), reuse=not nocache)


def _build_cache_volume(engine, *, app) -> str:
    """The app's own build cache volume, made on first use. It belongs to the app user: a fresh
    volume takes the owner of the image folder it is first mounted on, so a container of the
    runtime image is made (never started: nothing runs, and no root) with it on /workspace, the
    app user's empty folder. A volume of the same name left by an earlier app with this slug is
    never reused."""
    name = build_cache_volume_name(slug=app.slug)
    identity = {**labels(slug=app.slug, role=CACHE_ROLE), "mgx.app-created": _identity(app)}
    try:
        volume = engine.volumes.get(name)
        if (volume.attrs.get("Labels") or {}).get("mgx.app-created") == identity["mgx.app-created"]:
            return name
        volume.remove(force=True)
    except docker.errors.NotFound:
        pass
    engine.volumes.create(name, labels=identity)
    owner = engine.containers.create(settings.MGX_RUNTIME_IMAGE, ["true"], network_disabled=True,
                                     labels=labels(slug=app.slug, role="build"),
                                     volumes={name: {"bind": "/workspace", "mode": "rw"}})
    owner.remove(force=True)
    return name


def _prune_steps(engine, *, app, keep: set[str]) -> int:
    """The step images of the app the build just done did not use: superseded. One an image
    still stands on (an old release's, for a rollback) stays: the engine refuses, until the app
    goes."""
    found = engine.images.list(all=True, filters={"label": [f"{k}={v}" for k, v in
                                                            labels(slug=app.slug, role=STEP_ROLE).items()]})
    return remove_images(engine, [i for i in found if (i.labels or {}).get(builder.STEP_LABEL) not in keep],
                          force=False)


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
                 steps: builder.StepCache, cache_volume: str, nocache: bool = False) -> dict:
    app = build.app
    root = workspace_for(app).root
    tree = git.tree_id(root, build.commit, subdir=folder)
    repository = image_repository(slug=app.slug, role=role)
    tag = f"{repository}:{build.commit}"
    same, steps_of_same = (None, []) if nocache else _reusable(engine, build=build, role=role, tree=tree, base=base)
    if same is not None:
        same.tag(tag)
        out.line(f"==> {tag}: {folder or 'the workspace'}/ is unchanged since the last build; its image "
                 f"({same.id[7:19]}) is used again")
        return {"tag": tag, "id": same.id, "tree": tree, "base": base, "steps": steps_of_same}
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
            timeout=max(1.0, deadline - time.monotonic()), cache=steps, cache_volume=cache_volume)
    except builder.BuildFailed as exc:
        reason = str(exc).rstrip(".")
        if reason.startswith(("line ", "There is no Dockerfile", "A Dockerfile", "The Dockerfile")):
            raise _Failed(f"The {role} image cannot be built: {reason}.") from exc
        where = f" at {step}" if step and "at step" not in reason else ""
        raise _Failed(f"Building the {role} image failed{where}: {reason}.") from exc
    out.line(f"==> {tag} built ({image_id[7:19]})")
    return {"tag": tag, "id": image_id, "tree": tree, "base": base, "steps": sorted(steps.used)}


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
            cache_volume = _build_cache_volume(engine, app=build.app)
            built = False
            for role, folder in framework(build.app.framework).images:
                steps = _step_cache(engine, app=build.app, nocache=nocache)
                images[role] = _build_image(engine, build=build, role=role, folder=folder, out=out, base=base,
                                            deadline=deadline, steps=steps, cache_volume=cache_volume,
                                            nocache=nocache)
                built = built or bool(steps.used)
            if built:  # the step images this build's images stand on stay; those it replaced go
                keep = {key for made in images.values() for key in made.get("steps") or []}
                pruned = _prune_steps(engine, app=build.app, keep=keep)
                if pruned:
                    out.line(f"==> {pruned} step image{'s' if pruned != 1 else ''} no longer used removed")
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
    """The app is being deleted: its build output, its images (those it serves, those kept of its
    build steps) and its build cache go."""
    ids = list(Build.objects.filter(app=app).values_list("pk", flat=True))
    BuildLog.objects(build__in=ids).delete()
    _remove_build_containers(filters=[f"mgx.app={app.slug}"])
    try:
        engine = client()
        _remove_app_images(engine, slug=app.slug)
        _remove_build_cache(engine, slug=app.slug)
    except DockerUnavailable:
        pass


def _remove_app_images(engine, *, slug: str) -> None:
    # all=True: step images others were made from are "intermediate" and listed only so.
    found = engine.images.list(all=True, filters={"label": [f"mgx.instance={instance_id()}", f"mgx.app={slug}"]})
    remove_images(engine, found, force=True)


def _remove_build_cache(engine, *, slug: str) -> None:
    try:
        engine.volumes.get(build_cache_volume_name(slug=slug)).remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        log.warning("the build cache of %s could not be removed: %s", slug, exc)


def build_caches_reconcile() -> list[str]:
    """At worker start: build caches and step images of apps that are gone (deleted while the
    engine did not answer) are removed; the slugs. Volumes and images are listed before any app
    is looked up, so an app made meanwhile is never taken for a deleted one."""
    try:
        engine = client()
    except DockerUnavailable:
        return []
    mine = f"mgx.instance={instance_id()}"
    volumes = engine.volumes.list(filters={"label": [mine, f"mgx.role={CACHE_ROLE}"]})
    steps = engine.images.list(all=True, filters={"label": [mine, f"mgx.role={STEP_ROLE}"]})
    slugs = {(v.attrs.get("Labels") or {}).get("mgx.app", "") for v in volumes} | {
        (i.labels or {}).get("mgx.app", "") for i in steps}
    slugs.discard("")
    gone = slugs - set(App.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    for slug in sorted(gone):
        _remove_build_cache(engine, slug=slug)
        remove_images(engine, [i for i in steps if (i.labels or {}).get("mgx.app") == slug], force=True)
    return sorted(gone)


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
