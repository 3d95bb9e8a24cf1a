from .env import env

MGX_OTEL_ENABLED = env.bool("MGX_OTEL_ENABLED", default=True)
MGX_OTEL_SERVICE_NAME = env("OTEL_SERVICE_NAME", default="mgx")
# Standard OpenTelemetry variable; spans are only exported when it is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
# `self`: MGX's own receiver (service `mgx`, shown on the admin's telemetry page), with MGX's
# own ingest token unless OTEL_EXPORTER_OTLP_HEADERS says otherwise (mgx_site.otel).

# The OTLP receiver (/otlp/v1/traces, /otlp/v1/logs) for the apps' telemetry.
# Largest request body accepted, after decompression (the SDKs send 512 spans a batch, ~200 KB).
MGX_OTLP_MAX_BODY_BYTES = env.int("MGX_OTLP_MAX_BODY_BYTES", default=8 * 1024 * 1024)
# Days of traces and logs kept per app (each app may have its own on its Traces tab).
MGX_OTLP_RETENTION_DAYS = env.int("MGX_OTLP_RETENTION_DAYS", default=7)
