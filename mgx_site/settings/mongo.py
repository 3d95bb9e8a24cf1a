from mgx_site import defaults

from .env import env

# Any MongoDB wire-protocol server: the embedded nx-27017 by default, real MongoDB in production.
MGX_MONGO_URL = env("MGX_MONGO_URL", default=defaults.MGX_MONGO_URL)
# Fail fast instead of pymongo's 30 s default when the store is down; pages say so at once.
MGX_MONGO_TIMEOUT_MS = env.int("MGX_MONGO_TIMEOUT_MS", default=5000)

# The apps' own databases (`app_<slug>`, one per app). By default a second embedded store that
# ./mgx starts apart from MGX's, on loopback (MGX_APPS_MONGO_STORE_PORT), which MGX opens
# directly (provisioning, the Database tab); app containers reach it only through the guard
# (databases/guard.py), which listens on the Docker bridge address (MGX_INTERNAL_HOST) at
# MGX_APPS_MONGO_PORT, where containers call it host.docker.internal, and lets each app's own
# user open its own database only. Set MGX_APPS_MONGO_URL to use a MongoDB elsewhere (production
# compose: the `apps-mongo` service; no guard then, MGX_APPS_MONGO_AUTH gives each app a user),
# and MGX_APPS_MONGO_URL_FOR_APPS when containers reach it under another address than MGX does.
MGX_APPS_MONGO_PORT = env.int("MGX_APPS_MONGO_PORT", default=defaults.MGX_APPS_MONGO_PORT)
MGX_APPS_MONGO_STORE_PORT = env.int("MGX_APPS_MONGO_STORE_PORT", default=defaults.MGX_APPS_MONGO_STORE_PORT)
_apps_mongo_url = env("MGX_APPS_MONGO_URL", default="")
# True when MGX runs the apps' store itself: apps connect through the guard, as their own user.
MGX_APPS_MONGO_GUARDED = not _apps_mongo_url
MGX_APPS_MONGO_URL = _apps_mongo_url or f"mongodb://127.0.0.1:{MGX_APPS_MONGO_STORE_PORT}/"
MGX_APPS_MONGO_URL_FOR_APPS = env("MGX_APPS_MONGO_URL_FOR_APPS", default="") or (
    _apps_mongo_url or f"mongodb://host.docker.internal:{MGX_APPS_MONGO_PORT}/")
# The largest message the guard takes from an app once authenticated (MongoDB's own limit is
# 48,000,000 bytes, and so is the embedded store's; drivers split their batches to fit).
MGX_APPS_MONGO_MAX_MESSAGE_BYTES = env.int("MGX_APPS_MONGO_MAX_MESSAGE_BYTES", default=48_000_000)

# Where the apps' containers send OpenTelemetry (OTLP/HTTP base URL; the SDKs append
# /v1/traces and /v1/logs). Empty: MGX's own receiver on its internal listener once it has one;
# until then telemetry stays off in the apps unless this names a collector.
MGX_APPS_OTLP_ENDPOINT = env("MGX_APPS_OTLP_ENDPOINT", default="")
# On an apps' MongoDB elsewhere (MGX_APPS_MONGO_URL) that enforces authentication: give each app
# its own user with readWrite on app_<slug> only (databases.isolation). The embedded store has no
# users; the guard in front of it does the same there, whatever this says.
MGX_APPS_MONGO_AUTH = env.bool("MGX_APPS_MONGO_AUTH", default=False)
