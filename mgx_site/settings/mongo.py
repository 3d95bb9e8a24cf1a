from mgx_site import defaults

from .agents import MGX_INTERNAL_HOST
from .env import env

# Any MongoDB wire-protocol server: the embedded nx-27017 by default, real MongoDB in production.
MGX_MONGO_URL = env("MGX_MONGO_URL", default=defaults.MGX_MONGO_URL)
# Fail fast instead of pymongo's 30 s default when the store is down; pages say so at once.
MGX_MONGO_TIMEOUT_MS = env.int("MGX_MONGO_TIMEOUT_MS", default=5000)

# The apps' own databases (`app_<slug>`, one per app). By default a second embedded store that
# ./mgx starts on the Docker bridge address (MGX_INTERNAL_HOST), apart from MGX's: app
# containers reach it as host.docker.internal and have no route to MGX's store. Set
# MGX_APPS_MONGO_URL to use a MongoDB elsewhere (production compose: the `mongo` service), and
# MGX_APPS_MONGO_URL_FOR_APPS when containers reach it under another address than MGX does.
MGX_APPS_MONGO_PORT = env.int("MGX_APPS_MONGO_PORT", default=defaults.MGX_APPS_MONGO_PORT)
_apps_mongo_url = env("MGX_APPS_MONGO_URL", default="")
MGX_APPS_MONGO_URL = _apps_mongo_url or (
    f"mongodb://{MGX_INTERNAL_HOST or defaults.DOCKER_BRIDGE_ADDRESS}:{MGX_APPS_MONGO_PORT}/")
MGX_APPS_MONGO_URL_FOR_APPS = env("MGX_APPS_MONGO_URL_FOR_APPS", default="") or (
    _apps_mongo_url or f"mongodb://host.docker.internal:{MGX_APPS_MONGO_PORT}/")

# Where the apps' containers send OpenTelemetry (OTLP/HTTP base URL; the SDKs append
# /v1/traces and /v1/logs). Empty: MGX's own receiver on its internal listener once it has one;
# until then telemetry stays off in the apps unless this names a collector.
MGX_APPS_OTLP_ENDPOINT = env("MGX_APPS_OTLP_ENDPOINT", default="")
# On an apps' MongoDB that enforces authentication: give each app its own user with readWrite on
# app_<slug> only (databases.isolation). The embedded store has no users, so it stays off there.
MGX_APPS_MONGO_AUTH = env.bool("MGX_APPS_MONGO_AUTH", default=False)
