"""Reads the state of every service MGX depends on. Each check is bounded to about a second so
a dead service makes /healthz answer quickly with a 503 instead of hanging."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from celery import current_app
from django.conf import settings
from django.db import connection

from .probes import Probe, docker_probe, mongo_probe, redis_probe


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


def _state(name: str, probe: Probe) -> ServiceState:
    return ServiceState(name, probe.up, probe.detail)


def _mongo() -> ServiceState:
    return _state("mongodb", mongo_probe(settings.MGX_MONGO_URL, client=_mongo_client()))


def _redis() -> ServiceState:
    return _state("redis", redis_probe(settings.MGX_REDIS_URL))


def _docker() -> ServiceState:
    return _state("docker", docker_probe(settings.MGX_DOCKER_HOST))


def _celery(redis_state: ServiceState) -> ServiceState:
    if not redis_state.up:
        # A ping through a dead broker would only hang in kombu's reconnect loop.
        return ServiceState("celery", False, "cannot reach workers: the Redis broker is down")
    try:
        # The one Celery app, which mgx_site makes current as it loads (core imports no app).
        replies = current_app.control.ping(timeout=1.0) or []
    except Exception as exc:
        return ServiceState("celery", False, f"ping failed: {type(exc).__name__}")
    if not replies:
        return ServiceState("celery", False, "no worker answered a ping within 1 s")
    names = sorted(name for reply in replies for name in reply)
    return ServiceState("celery", True, f"{len(names)} worker(s): {', '.join(names)}")


def may_see_health_details(user) -> bool:
    """Addresses, socket paths, versions and worker host names map MGX's insides for an
    attacker; only MGX's administrators get them."""
    return user is not None and user.is_active and (user.is_staff or user.is_superuser)


def system_health() -> list[ServiceState]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        sql, mongo, redis_, docker_ = (f.result() for f in [pool.submit(fn) for fn in (_sql, _mongo, _redis, _docker)])
    return [sql, mongo, redis_, docker_, _celery(redis_)]
