"""One way for services to tell browsers that something changed: a channel-layer group message.
Consumers only forward what arrives here; they never decide what happened."""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def app_group(slug: str) -> str:
    return f"app.{slug}"


def announce(*, slug: str, kind: str, data: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(app_group(slug), {"type": "app.event", "kind": kind, "data": data})
    except Exception as exc:  # a missed live update must never break the work that caused it
        log.warning("announce %s for %s failed: %s", kind, slug, exc)
