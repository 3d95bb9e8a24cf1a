"""Builds reuse work, and only an app's own: step reuse, the app's build cache, and their going
with the app, on the real Docker engine.

MGX's builder keeps the state after each step as an image labelled with the step's key and the
app; a later build of the same app starts from the last step that is still the same. Each app has
a build cache volume of its own (npm's and pip's caches, `RUN --mount=type=cache` folders). A
second app with the very same files reuses nothing of the first, sees nothing of its cache, and
deleting an app removes both.
"""
import docker
import pytest

from containers.builder import STEP_LABEL
from containers.docker_client import build_cache_volume_name, instance_id
from deployments import builds, selectors
from deployments.tasks import prod_reconcile_task
from studio.services import app_delete
from workspaces.services import file_write

from .test_production import settled_build

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]

DOCKERFILE = """\
ARG BASE_IMAGE=mgx/runtime:1
FROM ${BASE_IMAGE} AS build
WORKDIR /srv/site
COPY deps.txt ./
RUN echo "installing $(cat deps.txt)" && cat deps.txt > installed.txt
COPY page.html ./
RUN --mount=type=cache,target=/srv/site/.cache \\
    echo "cache held: [$(cat .cache/seen 2>/dev/null | tr '\\n' ' ')]" && cat page.html >> .cache/seen \\
    && echo "npm cache held: [$(cat "$npm_config_cache/planted" 2>/dev/null)]" \\
    && mkdir -p "$npm_config_cache" && echo "planted-by-$(cat page.html)" > "$npm_config_cache/planted" \\
    && cp page.html index.html
FROM ${BASE_IMAGE}
WORKDIR /srv/site
COPY --from=build /srv/site/ ./
CMD ["sh", "-c", "cat /srv/site/index.html"]
"""
INSTALL = 'RUN echo "installing $(cat deps.txt)" && cat deps.txt > installed.txt'


@pytest.fixture
def owner(user_factory):
    return user_factory(username="cacheowner")


def outcomes(build) -> dict[str, str]:
    """Each step that changes files, by its text: "cache" (reused) or "ran"."""
    found, step = {}, ""
    for line in selectors.build_log_lines(build=build):
        if line.startswith("Step "):
            step = line.split(" : ", 1)[1]
        elif line.startswith(" ---> Using cache"):
            found[step] = "cache"
        elif line.startswith(" ---> done in"):
            found[step] = "ran"
    return found


def log_of(build) -> str:
    return "\n".join(selectors.build_log_lines(build=build))


def cached_app(app_factory, owner, name, page):
    app = app_factory(owner=owner, name=name, framework="nextjs")
    file_write(app=app, path="Dockerfile", content=DOCKERFILE, user=owner)
    file_write(app=app, path="deps.txt", content="left-pad 1.3.0\n", user=owner)
    file_write(app=app, path="page.html", content=page, user=owner)
    return app


def step_images(slug: str) -> list:
    return docker.from_env().images.list(all=True, filters={"label": [
        f"mgx.instance={instance_id()}", f"mgx.app={slug}", f"mgx.role={builds.STEP_ROLE}"]})


def test_a_rebuild_reuses_the_steps_before_the_change_and_keeps_the_cache_mount(live, runtime_image, app_factory, owner):
    app = cached_app(app_factory, owner, "Cache Mine", "version one\n")
    first = settled_build(builds.build_request(app=app, user=owner))
    assert first.status == "succeeded", log_of(first)
    assert set(outcomes(first).values()) == {"ran"}, outcomes(first)
    assert "cache held: []" in log_of(first) and "npm cache held: []" in log_of(first), log_of(first)

    # One line of the page changes: the steps before it are reused, the rest runs again, and
    # the cache mount and npm's cache hold what the first build put there.
    file_write(app=app, path="page.html", content="version two\n", user=owner)
    second = settled_build(builds.build_request(app=app, user=owner))
    assert second.status == "succeeded", log_of(second)
    steps = outcomes(second)
    assert steps["COPY deps.txt ./"] == "cache" and steps[INSTALL] == "cache", steps
    assert steps["COPY page.html ./"] == "ran" and steps["COPY --from=build /srv/site/ ./"] == "ran", steps
    assert [outcome for step, outcome in steps.items() if step.startswith("RUN --mount=type=cache")] == ["ran"], steps
    assert "installing left-pad" not in log_of(second)
    assert "cache held: [version one" in log_of(second), log_of(second)
    assert "npm cache held: [planted-by-version one]" in log_of(second), log_of(second)

    # The image has the page and the reused step's output, and none of the caches.
    engine = docker.from_env()
    shown = engine.containers.run(second.images["app"]["id"], remove=True, command=[
        "sh", "-c", "cat index.html installed.txt; find .cache /var/cache/mgx -mindepth 1 2>/dev/null"]).decode()
    assert shown.split() == ["version", "two", "left-pad", "1.3.0"], shown

    # The build stage's steps the second build replaced are pruned; the ones an image still
    # stands on (the first build's final stage, for a rollback) stay.
    assert "==> 2 step images no longer used removed" in log_of(second), log_of(second)
    assert len(step_images(app.slug)) == 6
    assert all((i.labels or {}).get(STEP_LABEL) for i in step_images(app.slug))


def test_an_app_with_the_same_files_reuses_nothing_and_sees_no_cache_of_another(live, runtime_image, app_factory,
                                                                                  owner):
    first_app = cached_app(app_factory, owner, "Cache First", "same page\n")
    first = settled_build(builds.build_request(app=first_app, user=owner))
    assert first.status == "succeeded", log_of(first)

    # Same Dockerfile, same files, same owner: another app all the same.
    other_app = cached_app(app_factory, owner, "Cache Other", "same page\n")
    other = settled_build(builds.build_request(app=other_app, user=owner))
    assert other.status == "succeeded", log_of(other)
    assert set(outcomes(other).values()) == {"ran"}, outcomes(other)
    assert "Using cache" not in log_of(other)
    assert "cache held: []" in log_of(other) and "npm cache held: []" in log_of(other), log_of(other)

    # Each app has its own build cache volume, labelled with it; their step images differ.
    engine = docker.from_env()
    volumes = {slug: engine.volumes.get(build_cache_volume_name(slug=slug))
               for slug in (first_app.slug, other_app.slug)}
    for slug, volume in volumes.items():
        assert volume.attrs["Labels"]["mgx.app"] == slug
        assert volume.attrs["Labels"]["mgx.role"] == builds.CACHE_ROLE
    assert volumes[first_app.slug].name != volumes[other_app.slug].name
    mine = {i.id for i in step_images(first_app.slug)}
    theirs = {i.id for i in step_images(other_app.slug)}
    assert mine and theirs and not mine & theirs


def test_deleting_an_app_removes_its_step_images_and_build_cache(live, runtime_image, app_factory, owner):
    app = cached_app(app_factory, owner, "Cache Gone", "page\n")
    kept = cached_app(app_factory, owner, "Cache Kept", "page\n")
    for one in (app, kept):
        done = settled_build(builds.build_request(app=one, user=owner))
        assert done.status == "succeeded", log_of(done)
    slug, volume = app.slug, build_cache_volume_name(slug=app.slug)
    assert step_images(slug)

    app_delete(app=app)
    engine = docker.from_env()
    assert step_images(slug) == []
    with pytest.raises(docker.errors.NotFound):
        engine.volumes.get(volume)
    # The other app's are untouched, and reconciling leaves what belongs to a living app.
    prod_reconcile_task()
    assert step_images(kept.slug)
    engine.volumes.get(build_cache_volume_name(slug=kept.slug))


def test_a_cache_volume_name_takes_only_a_slug():
    for bad in ("", "../x", "a/b", "A", "x" * 60, "a b", "-a"):
        with pytest.raises(ValueError):
            build_cache_volume_name(slug=bad)
    assert build_cache_volume_name(slug="my-app").endswith("-my-app")
