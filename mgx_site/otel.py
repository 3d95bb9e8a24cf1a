"""OpenTelemetry for MGX itself: Django requests and Celery tasks become spans, and so do the
agent team's model calls (core.telemetry.model_call_span) and Docker calls.

Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the
instrumentation still runs (trace ids appear in logs) but nothing leaves the process. The value
`self` sends them to MGX's own receiver (service `mgx`, listed on the admin's telemetry page)
with MGX's own ingest token. Everything here comes from the settings (mgx_site/settings/otel.py),
which read the environment.
"""
import os

from django.conf import settings

_done = False


def self_endpoint() -> str:
    """MGX's own receiver, on the public listener of this machine."""
    host = settings.MGX_HOST if settings.MGX_HOST not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.MGX_PORT}/otlp"


def _exporter():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.OTEL_EXPORTER_OTLP_ENDPOINT != "self":
        # The exporter reads the endpoint and headers (OTEL_EXPORTER_OTLP_*) from the
        # environment itself, by the OpenTelemetry specification.
        return OTLPSpanExporter()
    from observability.tokens import MGX_APP, mgx_ingest_token

    headers = None if os.environ.get("OTEL_EXPORTER_OTLP_HEADERS") else {
        "authorization": f"Bearer {mgx_ingest_token()}", "x-mgx-app": MGX_APP}
    return OTLPSpanExporter(endpoint=self_endpoint() + "/v1/traces", headers=headers)


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
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    _instrument_docker()
    # Health probes would drown real traffic in the traces; the receiver's own requests would
    # make a span for every export of spans, forever.
    DjangoInstrumentor().instrument(excluded_urls="healthz,static,otlp/")


def _instrument_docker() -> None:
    """One span per call to the Docker engine (`docker GET /containers/{id}/json`), around the
    Docker SDK's low-level request methods: every call MGX makes goes through them."""
    import re
    from functools import wraps

    from docker.api.client import APIClient

    from core.telemetry import docker_span

    version = re.compile(r"^/v[0-9.]+")
    ident = re.compile(r"/[0-9a-f]{12,64}(?=/|$)|/mgx-[^/]+")

    def traced(method_name: str, verb: str):
        original = getattr(APIClient, method_name)
        if getattr(original, "_mgx_traced", False):
            return

        @wraps(original)
        def call(self, url, *args, **kwargs):
            path = version.sub("", "/" + url.split("://", 1)[-1].split("/", 1)[-1])  # after the host
            with docker_span(f"{verb} {ident.sub('/{id}', path.split('?')[0])}", url=path[:300]):
                return original(self, url, *args, **kwargs)

        call._mgx_traced = True
        setattr(APIClient, method_name, call)

    for name, verb in (("_get", "GET"), ("_post", "POST"), ("_put", "PUT"), ("_delete", "DELETE")):
        traced(name, verb)


def setup_celery_otel() -> None:
    setup_otel(service_name=settings.MGX_OTEL_SERVICE_NAME + "-worker")
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()
