"""OpenTelemetry for MGX itself: Django requests and Celery tasks become spans.

Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the
instrumentation still runs (trace ids appear in logs) but nothing leaves the process. Everything
here comes from the settings (mgx_site/settings/otel.py), which read the environment.
"""
from django.conf import settings

_done = False


def setup_otel(*, service_name: str | None = None) -> None:
    global _done
    if _done or not settings.MGX_OTEL_ENABLED:
        return
    _done = True
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": service_name or settings.MGX_OTEL_SERVICE_NAME}))
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # The exporter reads the endpoint and headers (OTEL_EXPORTER_OTLP_*) from the
        # environment itself, by the OpenTelemetry specification.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Health probes would drown real traffic in the traces.
    DjangoInstrumentor().instrument(excluded_urls="healthz,static")


def setup_celery_otel() -> None:
    setup_otel(service_name=settings.MGX_OTEL_SERVICE_NAME + "-worker")
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
