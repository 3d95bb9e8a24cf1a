"""OpenTelemetry for MGX itself: Django requests and Celery tasks become spans.

Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the
instrumentation still runs (trace ids appear in logs) but nothing leaves the process.
"""
import os

_done = False


def setup_otel(*, service_name: str | None = None) -> None:
    global _done
    if _done or os.environ.get("MGX_OTEL_ENABLED", "true").lower() in ("0", "false", "no"):
        return
    _done = True
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    name = service_name or os.environ.get("OTEL_SERVICE_NAME", "mgx")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Health probes would drown real traffic in the traces.
    DjangoInstrumentor().instrument(excluded_urls="healthz,static")


def setup_celery_otel() -> None:
    setup_otel(service_name=os.environ.get("OTEL_SERVICE_NAME", "mgx") + "-worker")
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
