from mgx_site import defaults

from .env import env

# Any MongoDB wire-protocol server: the embedded nx-27017 by default, real MongoDB in production.
MGX_MONGO_URL = env("MGX_MONGO_URL", default=defaults.MGX_MONGO_URL)
# Fail fast instead of pymongo's 30 s default when the store is down; pages say so at once.
MGX_MONGO_TIMEOUT_MS = env.int("MGX_MONGO_TIMEOUT_MS", default=5000)
