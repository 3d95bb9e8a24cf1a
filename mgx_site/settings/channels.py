from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .celery import MGX_REDIS_URL
from .env import env

ASGI_APPLICATION = "mgx_site.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": MGX_REDIS_URL,
                    # After Redis restarts, pooled connections are dead: ping one that sat idle
                    # before using it, and retry a command on a fresh connection, so the first
                    # websocket after the restart is not refused with a 500.
                    "health_check_interval": 5,
                    # The layer's receive blocks in BZPOPMIN for 5 s; redis-py's default read
                    # timeout is also 5 s, so an idle socket's read timed out, was retried three
                    # times and killed the consumer (1011) after ~20 s. Read past the block.
                    "socket_timeout": 15,
                    "socket_connect_timeout": 5,
                    "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
                }
            ],
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

# Every event websocket gets {"kind": "heartbeat"} this often, so a browser can tell a quiet app
# from a dead connection (static/js: no frame for three intervals → reconnect).
MGX_WS_HEARTBEAT_SECONDS = env.float("MGX_WS_HEARTBEAT_SECONDS", default=20.0)
