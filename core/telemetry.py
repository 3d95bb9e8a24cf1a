"""Spans MGX makes by hand, beside what the Django and Celery instrumentations make. With no
tracer provider set up (MGX_OTEL_ENABLED off) OpenTelemetry's API hands out no-op spans, so
callers never check."""
from __future__ import annotations

import time
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

_tracer = trace.get_tracer("mgx")


def model_call_span(*, app: str, run: str, role: str, model: str, prompt_tokens: int, completion_tokens: int,
                    cost: float, started_at: float = 0.0, duration_ms: float = 0.0) -> None:
    """One model call of the agent team, as a span after the fact (the GenAI semantic
    conventions' names, plus MGX's cost and run). Without a start time: now, for its duration."""
    end_ns = time.time_ns()
    start_ns = int(started_at * 1e9) if started_at else end_ns - int(duration_ms * 1e6)
    end_ns = start_ns + int(duration_ms * 1e6) if started_at else end_ns
    span = _tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, start_time=start_ns, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": prompt_tokens, "gen_ai.usage.output_tokens": completion_tokens,
        "mgx.llm.cost": cost, "mgx.llm.latency_ms": duration_ms, "mgx.app": app, "mgx.run": run,
        "mgx.role": role})
    span.end(end_time=max(end_ns, start_ns))


@contextmanager
def docker_span(operation: str, **attributes):
    """A span around one call to the Docker engine (`docker <operation>`); an exception marks it
    failed and goes on."""
    with _tracer.start_as_current_span(f"docker {operation}", kind=SpanKind.CLIENT,
                                       attributes={f"docker.{k}": str(v) for k, v in attributes.items()},
                                       record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
            raise
