from .celery import MGX_REDIS_URL

ASGI_APPLICATION = "mgx_site.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [MGX_REDIS_URL], "capacity": 1000, "expiry": 30},
    }
}
