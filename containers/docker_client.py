"""The Docker SDK client and the names and labels MGX gives its containers."""
import hashlib
import logging
import re
from functools import lru_cache

import docker
from django.conf import settings

from core.errors import Unavailable

log = logging.getLogger(__name__)


class DockerUnavailable(Unavailable):
    """The Docker engine does not answer. The message (shown to users) does not say where MGX
    looked: the engine's address is for operators, and goes to the log."""


@lru_cache(maxsize=1)
def _client() -> docker.DockerClient:
    return docker.DockerClient(base_url=settings.MGX_DOCKER_HOST, timeout=60)


def client() -> docker.DockerClient:
    try:
        c = _client()
        c.ping()
        return c
    except Exception as exc:
        _client.cache_clear()
        log.warning("the Docker engine does not answer at %s: %s", settings.MGX_DOCKER_HOST, exc)
        raise DockerUnavailable("The Docker engine does not answer; try again in a moment (an operator starts it with ./mgx up).") from exc


def instance_id() -> str:
    """Several MGX installs may share one engine (a dev instance and the test suite): each only
    ever sees and reconciles containers carrying its own id."""
    return hashlib.sha256(str(settings.VAR_DIR).encode()).hexdigest()[:10]


def labels(*, slug: str, role: str) -> dict:
    return {"mgx.instance": instance_id(), "mgx.app": slug, "mgx.role": role}


def container_name(*, slug: str, role: str) -> str:
    return f"mgx-{instance_id()}-{role}-{slug}"


def cache_volume_name(*, slug: str) -> str:
    """The app's own volume for its container's HOME and npm/pip caches: never shared, so one
    app cannot plant packages another app installs."""
    return f"mgx-cache-{instance_id()}-{slug}"


def build_cache_volume_name(*, slug: str) -> str:
    """The app's own build cache (npm's and pip's caches, RUN --mount=type=cache folders), mounted
    in its build stages only: never shared, so one app's build cannot plant files another's uses.
    The slug is checked again here (the App model validates it too): a volume name is no place
    for anything but an app's slug."""
    if not _VOLUME_SLUG.match(slug or ""):
        raise ValueError(f"not an app slug: {slug[:60]!r}")
    return f"mgx-build-cache-{instance_id()}-{slug}"


_VOLUME_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$")


def published_port(container, port: int) -> int:
    """The host port Docker picked for the container's `port` (MGX publishes on loopback with
    no fixed port). `container` must have been reloaded since it started."""
    return int(container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])


def remove_images(engine, images, *, force: bool) -> int:
    """Remove what the engine lets go; how many. It refuses an image others were made from
    while they are there, so this goes round until a round removes nothing more."""
    left, removed = list(images), 0
    while left:
        refused = []
        for image in left:
            try:
                # noprune: the engine would also remove untagged images this one was made from,
                # which may be steps still in use.
                engine.images.remove(image.id, force=force, noprune=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                refused.append(image)
        if len(refused) == len(left):
            break
        left = refused
    return removed
