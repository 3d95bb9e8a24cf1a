"""A task acknowledged after Redis restarted under the worker (tests/test_live_stack.py).

When the broker goes away, the worker's consumer drops its connection and makes a new one; a
task the pool accepts (acks_late off) or finishes (acks_late on) after that is acknowledged
through the message's old channel, whose transport has let go of its client. kombu 5.7 then
raises AttributeError in `_connparams`, which is not a connection error: the consumer crashes
and the worker takes no task again until it is restarted by hand (CI of stop 32). The ack must
be carried out on a fresh connection instead, and must never raise."""
import uuid

import redis
from django.conf import settings
from kombu import Connection

from mgx_site.celery import _guard_acks

_guard_acks()  # what the worker does as it starts (Celery's worker_init)


def _delivered_then_dropped():
    """A message taken (not yet acked) from a queue, then its connection dropped the way the
    consumer drops it when Redis restarts: the transport let go of its client, the channel's
    pool is gone."""
    conn = Connection(settings.CELERY_BROKER_URL)
    queue = conn.SimpleQueue(f"mgx-test-ack-{uuid.uuid4().hex[:8]}")
    queue.put({"task": "the one that outlived its connection"})
    message = queue.get(timeout=5)
    # The state the worker's traceback showed (CI of stop 32): the channel still on its
    # transport, the transport's client and the channel's pool gone.
    message.channel.connection.client = None
    message.channel._disconnect_pools()
    return message


def test_a_late_ack_on_a_dropped_connection_is_done_without_crashing_the_consumer():
    message = _delivered_then_dropped()
    unacked = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert unacked.hexists("unacked", message.delivery_tag)  # delivered, waiting for its ack

    message.ack()  # raised AttributeError: 'NoneType' object has no attribute 'hostname'

    # Acked for real: Redis does not hand the task out again after the visibility timeout.
    assert not unacked.hexists("unacked", message.delivery_tag)
    assert unacked.zscore("unacked_index", message.delivery_tag) is None


def test_a_reject_on_a_dropped_connection_does_not_raise_either():
    message = _delivered_then_dropped()
    message.reject()
    assert not redis.Redis.from_url(settings.CELERY_BROKER_URL).hexists("unacked", message.delivery_tag)
