"""The Docker runtime: engine address, image names, container limits, the gateway driver."""
import os

from mgx_site import defaults

from .env import env

MGX_DOCKER_HOST = env("DOCKER_HOST", default=defaults.DOCKER_HOST)

# Images. The base is pulled when a registry answers, otherwise built with debootstrap.
MGX_BASE_IMAGE = env("MGX_BASE_IMAGE", default="mgx/base:bookworm")
MGX_BASE_PULL = env("MGX_BASE_PULL", default="debian:bookworm-slim")
MGX_DEBIAN_MIRROR = env("MGX_DEBIAN_MIRROR", default="http://deb.debian.org/debian")
MGX_RUNTIME_IMAGE = env("MGX_RUNTIME_IMAGE", default="mgx/runtime:1")
# Dev servers run from this image (the runtime plus the templates' dependencies, made by
# containers.images) when it is current; from the runtime image, installing everything, if not.
MGX_DEV_IMAGE = env("MGX_DEV_IMAGE", default="mgx/dev:1")

# A CA bundle copied into image builds and mounted into containers (PIP_CERT,
# NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, SSL_CERT_FILE), so package installs work behind a
# TLS-inspecting proxy. The host's bundle is the default when there is one; "" turns it off.
_host_bundle = "/etc/ssl/certs/ca-certificates.crt"
MGX_EXTRA_CA_BUNDLE = env("MGX_EXTRA_CA_BUNDLE", default=_host_bundle if os.path.exists(_host_bundle) else "")

# Dev containers.
MGX_DEV_MEMORY = env("MGX_DEV_MEMORY", default="2g")
MGX_DEV_CPUS = env.float("MGX_DEV_CPUS", default=1.5)
MGX_DEV_PIDS = env.int("MGX_DEV_PIDS", default=1024)
MGX_DEV_IDLE_TIMEOUT = env.int("MGX_DEV_IDLE_TIMEOUT", default=1800)  # seconds without a request
# A stopped dev server is kept warm this long: its container is paused (no CPU, its memory
# kept) and the next start resumes it in well under a second instead of starting `next dev` and
# compiling again. 0: stop removes the container at once.
MGX_DEV_KEEP_WARM = env.int("MGX_DEV_KEEP_WARM", default=1800)
# /tmp is a tmpfs (the root filesystem is read-only); its pages count against MGX_DEV_MEMORY.
MGX_DEV_TMP_SIZE = env("MGX_DEV_TMP_SIZE", default="512m")
# SSH into dev containers: the address the container's sshd port is published on (loopback by
# default; 0.0.0.0 to let other machines in) and the host name the Dev tab tells users to
# connect to (MGX's public host name when empty).
MGX_SSH_BIND = env("MGX_SSH_BIND", default="127.0.0.1")
MGX_SSH_HOST = env("MGX_SSH_HOST", default="")

# Gateway for /apps/<slug>/dev|prod/ on MGX_APPS_URL: "builtin" (routes in Redis, served by nginx
# with MGX's Lua module: deployments/gateway/nginx.py) or "apisix".
MGX_GATEWAY = env("MGX_GATEWAY", default="builtin")
# nginx's worker processes for the builtin gateway ("auto": one per core), and the unprivileged
# user they run as when MGX runs as root.
MGX_GATEWAY_WORKERS = env("MGX_GATEWAY_WORKERS", default="auto")
MGX_GATEWAY_USER = env("MGX_GATEWAY_USER", default="www-data")
# How long the builtin gateway trusts its "this session may open this dev preview" decision.
# Logout and token revocation drop it at once (pushed over Redis); this bounds everything else
# (a member removed, an app deleted).
MGX_GATEWAY_AUTH_TTL = env.float("MGX_GATEWAY_AUTH_TTL", default=10.0)
MGX_APISIX_ADMIN_URL = env("MGX_APISIX_ADMIN_URL", default="http://127.0.0.1:9180")
MGX_APISIX_ADMIN_KEY = env("MGX_APISIX_ADMIN_KEY", default="")

# Production containers (deployments.production): limits per container, and how long a new
# release may take to answer its health endpoint before it is stopped and not switched to.
MGX_PROD_MEMORY = env("MGX_PROD_MEMORY", default="1g")
MGX_PROD_CPUS = env.float("MGX_PROD_CPUS", default=1.0)
MGX_PROD_PIDS = env.int("MGX_PROD_PIDS", default=512)
MGX_PROD_TMP_SIZE = env("MGX_PROD_TMP_SIZE", default="128m")
MGX_PROD_HEALTH_TIMEOUT = env.int("MGX_PROD_HEALTH_TIMEOUT", default=120)  # seconds
# Seconds the old release keeps running after the route switched: requests it already took finish.
MGX_PROD_DRAIN_SECONDS = env.float("MGX_PROD_DRAIN_SECONDS", default=2.0)
MGX_BUILD_TIMEOUT = env.int("MGX_BUILD_TIMEOUT", default=1800)  # seconds a whole image build may take
# Auto-publish (per app, off by default) builds a new commit once it is this many seconds old,
# so a burst of saves or a run of the team becomes one build.
MGX_AUTO_PUBLISH_DELAY = env.int("MGX_AUTO_PUBLISH_DELAY", default=20)
# A live release shows "Errors" (deployments.prod_health) when, over the last
# MGX_PROD_ERROR_WINDOW_MINUTES (and since it went live), at least MGX_PROD_ERRORS_MIN requests
# failed or errors were logged, and they are at least MGX_PROD_ERROR_RATE of what it answered.
MGX_PROD_ERROR_WINDOW_MINUTES = env.int("MGX_PROD_ERROR_WINDOW_MINUTES", default=15)
MGX_PROD_ERRORS_MIN = env.int("MGX_PROD_ERRORS_MIN", default=3)
MGX_PROD_ERROR_RATE = env.float("MGX_PROD_ERROR_RATE", default=0.05)

# Image builds (containers.builder): every step of an app's Dockerfile runs in a container
# under the same sandbox as its dev server (uid 1000, no capabilities, the app's own network),
# with these limits for each stage's container.
MGX_BUILD_MEMORY = env("MGX_BUILD_MEMORY", default="3g")
MGX_BUILD_CPUS = env.float("MGX_BUILD_CPUS", default=2.0)
MGX_BUILD_PIDS = env.int("MGX_BUILD_PIDS", default=2048)
# Lines of a build's output MGX keeps (the Prod tab, MongoDB); past it only the last lines are kept.
MGX_BUILD_LOG_MAX_LINES = env.int("MGX_BUILD_LOG_MAX_LINES", default=20000)

# Every app container's log (docker logs, the Logs tab) rotates at this size, keeping this many files.
MGX_CONTAINER_LOG_MAX_SIZE = env("MGX_CONTAINER_LOG_MAX_SIZE", default="10m")
MGX_CONTAINER_LOG_MAX_FILES = env.int("MGX_CONTAINER_LOG_MAX_FILES", default=3)

# Each app's containers live on a bridge network of the app's own, whose subnet MGX takes from
# this range (cut into networks of MGX_APP_SUBNET_PREFIX bits: /28 holds 13 containers).
MGX_APP_SUBNETS = env("MGX_APP_SUBNETS", default="10.213.0.0/16")
MGX_APP_SUBNET_PREFIX = env.int("MGX_APP_SUBNET_PREFIX", default=28)
