"""Test helpers: spans and log records made by the real opentelemetry-sdk, sent by its real
OTLP/HTTP exporters (protobuf), and the same requests as OTLP/JSON (hex ids, camelCase), the
encoding the JavaScript SDKs send. The Python SDK has no JSON exporter, so JSON bodies are the
SDK's own protobuf encoding turned into OTLP/JSON."""
from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode


def make_trace(service: str, *, root="GET /api/orders", error=False, children=("db.find orders", "render")):
    """One trace: a root span with children (the last one failing when `error`), an event on the
    root; returns the finished SDK spans and the trace id (hex)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(root, attributes={"http.route": "/api/orders", "http.method": "GET"}) as top:
        top.add_event("cache miss", {"key": "orders:1"})
        for i, name in enumerate(children):
            with tracer.start_as_current_span(name) as child:
                if error and i == len(children) - 1:
                    child.set_status(Status(StatusCode.ERROR, "boom: orders collection missing"))
        if error:
            top.set_status(Status(StatusCode.ERROR, "500"))
        trace_id = format(top.get_span_context().trace_id, "032x")
    provider.shutdown()
    return memory.get_finished_spans(), trace_id


def make_request(service: str, *, name: str, attributes: dict, children=(), error=False):
    """One server request's trace as an app's instrumentation makes it: a root span `name` with
    `attributes` (http.target, http.route, http.status_code …) and child spans; the finished SDK
    spans and the trace id (hex)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(name, attributes=attributes) as top:
        for child in children:
            with tracer.start_as_current_span(child):
                pass
        if error:
            top.set_status(Status(StatusCode.ERROR, "500"))
        trace_id = format(top.get_span_context().trace_id, "032x")
    provider.shutdown()
    return memory.get_finished_spans(), trace_id


def make_logs(service: str, *, trace_spans=(), records=(("INFO", "order list served"),)):
    """Log records by the SDK's LoggerProvider, inside the first of `trace_spans`' trace if given."""
    from opentelemetry import trace as trace_api

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("tests")
    context = None
    if trace_spans:
        ctx = trace_spans[0].get_span_context()
        context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(ctx))
    for severity, body in records:
        number = getattr(SeverityNumber, severity if severity != "WARNING" else "WARN")
        logger.emit(body=body, severity_text=severity, severity_number=number, context=context,
                    attributes={"code.function": "list_orders"})
    provider.shutdown()
    return memory.get_finished_logs()


def span_exporter(url: str, token: str | None, app: str | None = None, stage: str | None = None) -> OTLPSpanExporter:
    """What an app's container exports with (its OTEL_EXPORTER_OTLP_HEADERS: token, app, stage)."""
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if app:
        headers["x-mgx-app"] = app
    if stage:
        headers["x-mgx-stage"] = stage
    return OTLPSpanExporter(endpoint=f"{url}/otlp/v1/traces", headers=headers, timeout=10)


def log_exporter(url: str, token: str | None, app: str | None = None, stage: str | None = None) -> OTLPLogExporter:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if app:
        headers["x-mgx-app"] = app
    if stage:
        headers["x-mgx-stage"] = stage
    return OTLPLogExporter(endpoint=f"{url}/otlp/v1/logs", headers=headers, timeout=10)


def protobuf_body(spans) -> bytes:
    return encode_spans(spans).SerializeToString()


def _hex_ids(node):
    if isinstance(node, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and v else _hex_ids(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def json_body(spans=None, logs=None) -> bytes:
    message = encode_spans(spans) if spans is not None else encode_logs(logs)
    return json.dumps(_hex_ids(json_format.MessageToDict(message))).encode()
