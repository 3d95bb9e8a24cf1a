"""Reads the state of every service MGX depends on. Each check is bounded to about a second so
a dead service makes /healthz answer quickly with a 503 instead of hanging."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class ServiceState:
    name: str
    up: bool
    detail: str

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    def as_dict(self) -> dict:
        return {"up": self.up, "detail": self.detail}


def _sql() -> ServiceState:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return ServiceState("database", True, connection.vendor)
    except Exception as exc:  # any driver error means the DB is unusable
        return ServiceState("database", False, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()  # health checks run in worker threads; do not leak connections


LABELS = {"database": "Database", "mongodb": "MongoDB", "redis": "Redis", "docker": "Docker", "celery": "Celery"}


@lru_cache(maxsize=1)
def _mongo_client():
    import pymongo

    return pymongo.MongoClient(settings.MGX_MONGO_URL, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)


def _mongo() -> ServiceState:
    try:
        _mongo_client().admin.command("ping")
        return ServiceState("mongodb", True, _redact(settings.MGX_MONGO_URL))
    except Exception as exc:
        return ServiceState("mongodb", False, f"no answer at {_redact(settings.MGX_MONGO_URL)}: {type(exc).__name__}")


def _redis() -> ServiceState:
    import redis

    try:
        client = redis.Redis.from_url(settings.MGX_REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
        return ServiceState("redis", True, _redact(settings.MGX_REDIS_URL))
    except Exception as exc:
        return ServiceState("redis", False, f"no answer at {_redact(settings.MGX_REDIS_URL)}: {type(exc).__name__}")


def _docker() -> ServiceState:
    import docker

    try:
        client = docker.DockerClient(base_url=settings.MGX_DOCKER_HOST, timeout=2)
        try:
            version = client.version().get("Version", "?")
        finally:
            client.close()
        return ServiceState("docker", True, f"engine {version} at {settings.MGX_DOCKER_HOST}")
    except Exception as exc:
        return ServiceState("docker", False, f"no engine at {settings.MGX_DOCKER_HOST}: {type(exc).__name__}")


def _celery(redis_state: ServiceState) -> ServiceState:
    if not redis_state.up:
        # A ping through a dead broker would only hang in kombu's reconnect loop.
        return ServiceState("celery", False, "cannot reach workers: the Redis broker is down")
    from mgx_site.celery import app

    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception as exc:
        return ServiceState("celery", False, f"ping failed: {type(exc).__name__}")
    if not replies:
        return ServiceState("celery", False, "no worker answered a ping within 1 s")
    names = sorted(name for reply in replies for name in reply)
    return ServiceState("celery", True, f"{len(names)} worker(s): {', '.join(names)}")


def _redact(url: str) -> str:
    """Addresses are shown on pages; passwords inside them never are."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def may_see_health_details(user) -> bool:
    """Addresses, socket paths, versions and worker host names map MGX's insides for an
    attacker; only MGX's administrators get them."""
    return user is not None and user.is_active and (user.is_staff or user.is_superuser)


def system_health() -> list[ServiceState]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        sql, mongo, redis_, docker_ = (f.result() for f in [pool.submit(fn) for fn in (_sql, _mongo, _redis, _docker)])
    return [sql, mongo, redis_, docker_, _celery(redis_)]
