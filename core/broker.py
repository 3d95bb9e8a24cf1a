"""Acknowledgements that outlive their broker connection (kombu 5.7's Redis transport).

When Redis restarts under a worker, the worker's consumer drops its connection and makes a new
one. A task the pool accepts (acks_late off) or finishes (acks_late on) after that is
acknowledged through the message's old channel, whose transport has let go of its client:
kombu raises AttributeError in `_connparams`, which is not a connection error, so the consumer
crashes and the worker takes no task again until someone restarts it (tests/test_live_stack.py,
tests/test_broker_acks.py). `install()` makes such an ack happen on a fresh connection instead;
if Redis is down for that too, the message stays unacknowledged and Redis hands it out again
after the visibility timeout, as after any worker crash. It never raises.
"""
from __future__ import annotations

import logging

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual

log = logging.getLogger(__name__)

_original = {}


def _dropped(qos) -> bool:
    connection = qos.channel.connection
    return connection is None or connection.client is None


def _remove_on_fresh_client(qos, delivery_tag) -> None:
    from django.conf import settings

    try:
        with redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2) as client:
            client.pipeline().zrem(qos.unacked_index_key, delivery_tag).hdel(qos.unacked_key, delivery_tag).execute()
    except redis.RedisError as exc:
        log.warning("A task's acknowledgement could not reach Redis (%s): it is handed out again after the "
                    "visibility timeout", type(exc).__name__)


def _ack(self, delivery_tag):
    if not _dropped(self):
        return _original["ack"](self, delivery_tag)
    _remove_on_fresh_client(self, delivery_tag)
    virtual.QoS.ack(self, delivery_tag)


def _reject(self, delivery_tag, requeue=False):
    if not _dropped(self):
        return _original["reject"](self, delivery_tag, requeue=requeue)
    if not requeue:  # a requeued one is left unacknowledged: Redis restores it
        _remove_on_fresh_client(self, delivery_tag)
    virtual.QoS.ack(self, delivery_tag)


def install() -> None:
    """Route acknowledgements on a dropped connection through a fresh one (idempotent)."""
    if _original:
        return
    _original.update(ack=kombu_redis.QoS.ack, reject=kombu_redis.QoS.reject)
    kombu_redis.QoS.ack = _ack
    kombu_redis.QoS.reject = _reject
