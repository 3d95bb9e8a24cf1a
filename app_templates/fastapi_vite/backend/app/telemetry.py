"""OpenTelemetry: traces and logs over OTLP/HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT.

Off when that variable is unset (the app works the same, `tracer` spans are no-ops). The
exporters read OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS themselves and append
/v1/traces and /v1/logs. Make your own spans with `from .telemetry import tracer` and
`with tracer.start_as_current_span("name"): ...`; log with the `logging` module as usual.
"""
import logging

from opentelemetry import trace

from .config import Settings

tracer = trace.get_tracer("app")


class Telemetry:
    def __init__(self, tracer_provider=None, logger_provider=None, handler=None):
        self.tracer_provider, self.logger_provider, self.handler = tracer_provider, logger_provider, handler

    def flush(self) -> None:
        for provider in (self.tracer_provider, self.logger_provider):
            if provider is not None:
                provider.force_flush()

    def shutdown(self) -> None:
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
        for provider in (self.tracer_provider, self.logger_provider):
            if provider is not None:
                provider.shutdown()


def setup(app, settings: Settings) -> Telemetry:
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per token call is noise
    if not settings.otlp_endpoint:
        return Telemetry()
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": settings.service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Global, so `tracer` above (a proxy) and libraries record into it. OpenTelemetry allows
    # one global provider per process; tests that build several apps pass theirs explicitly.
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(logger_provider)
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logging.getLogger().addHandler(handler)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    logging.getLogger(__name__).info("Telemetry on: service.name=%s endpoint=%s", settings.service_name, settings.otlp_endpoint)
    return Telemetry(tracer_provider, logger_provider, handler)
