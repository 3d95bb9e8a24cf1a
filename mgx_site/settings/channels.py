from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .celery import MGX_REDIS_URL

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
                    "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                    "retry_on_error": [RedisConnectionError, RedisTimeoutError],
                }
            ],
            "capacity": 1000,
            "expiry": 30,
        },
    }
}
