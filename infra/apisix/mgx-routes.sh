#!/bin/sh
# The static routes: /, /api, /oauth2, /ws, /static, /otlp, /admin, /accounts, /sessions and
# /healthz are MGX itself. Run once after APISIX is up (the compose "apisix-init" service does).
set -eu
admin="${APISIX_ADMIN:-http://apisix:9180}/apisix/admin"
key="${MGX_APISIX_ADMIN_KEY:?set MGX_APISIX_ADMIN_KEY}"
curl -fsS -X PUT "$admin/upstreams/mgx" -H "X-API-KEY: $key" -d '{
  "type": "roundrobin", "nodes": {"mgx:8000": 1}, "pass_host": "pass"}'
curl -fsS -X PUT "$admin/routes/mgx" -H "X-API-KEY: $key" -d '{
  "name": "mgx", "uri": "/*", "priority": -10, "enable_websocket": true, "upstream_id": "mgx",
  "labels": {"managed_by": "mgx-static"}}'
