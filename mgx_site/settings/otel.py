from .env import env

MGX_OTEL_ENABLED = env.bool("MGX_OTEL_ENABLED", default=True)
MGX_OTEL_SERVICE_NAME = env("OTEL_SERVICE_NAME", default="mgx")
# Standard OpenTelemetry variable; spans are only exported when it is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
