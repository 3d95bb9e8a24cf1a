"""Which Celery workers are alive, for work that belongs to one worker (an agent run it watches).

Several workers share one Redis. Each worker's main process keeps a key `mgx:worker:<name>`
(its Celery node name, e.g. `mgx-8000@host`) alive with a TTL of MGX_WORKER_HEARTBEAT_TTL
seconds, renewed three times per TTL by a daemon thread; the key is deleted on a clean shutdown.
A worker that was killed stops renewing it and counts as dead once it expires. Tests make a
worker dead by deleting or expiring its key, never by waiting.
"""
from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

log = logging.getLogger(__name__)

KEY_PREFIX = "mgx:worker:"

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.MGX_REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    return _client


_life: dict[str, float] = {}


def life_begins() -> None:
    """Called in a worker's main process before its pool takes any task (Celery's worker_init):
    work it takes from now on belongs to this life of the worker."""
    _life["started"] = time.time()


def life_started() -> float | None:
    """When this worker's present life began (epoch seconds), for its start-up reconciles: a
    restarted worker keeps its node name, and what it took before this was its previous life's."""
    return _life.get("started")


def taken_in_present_life(*, owner: str, worker: str, taken_at: float | None, since: float | None) -> bool:
    """Was work that `owner` took at `taken_at` (epoch seconds) taken by the starting worker
    `worker` in its present life (begun at `since`)? Then that worker follows it now, and its
    start-up reconcile must not end it as its previous life's."""
    return bool(worker) and owner == worker and since is not None and taken_at is not None and taken_at >= since


def heartbeat_key(name: str) -> str:
    return f"{KEY_PREFIX}{name}"


def worker_heartbeat(*, name: str) -> None:
    """Say once that worker `name` is alive, for the next MGX_WORKER_HEARTBEAT_TTL seconds."""
    _redis().set(heartbeat_key(name), "1", ex=settings.MGX_WORKER_HEARTBEAT_TTL)


def worker_gone(*, name: str) -> None:
    """A clean shutdown: the worker's runs need not wait for the key to expire."""
    _redis().delete(heartbeat_key(name))


def worker_alive(*, name: str) -> bool:
    return bool(name) and bool(_redis().exists(heartbeat_key(name)))


def workers_alive() -> set[str]:
    return {key.decode()[len(KEY_PREFIX):] for key in _redis().scan_iter(match=f"{KEY_PREFIX}*", count=500)}


def heartbeat_thread_start(*, name: str) -> threading.Event:
    """Renew the worker's key until the returned event is set. A Redis hiccup is logged and
    retried on the next beat: a worker is only declared dead after a whole TTL without one."""
    stop = threading.Event()
    interval = max(settings.MGX_WORKER_HEARTBEAT_TTL / 3, 0.5)

    def beat():
        while True:
            try:
                worker_heartbeat(name=name)
            except redis.RedisError as exc:
                log.warning("worker heartbeat for %s: %s", name, exc)
            if stop.wait(interval):
                return

    try:
        worker_heartbeat(name=name)  # before the worker takes a task, so its runs never look orphaned
    except redis.RedisError as exc:
        log.warning("worker heartbeat for %s: %s", name, exc)
    threading.Thread(target=beat, name=f"mgx-heartbeat-{name}", daemon=True).start()
    return stop
