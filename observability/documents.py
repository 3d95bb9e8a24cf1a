"""Telemetry received over OTLP, in MongoDB (`mgx` database), tagged with the app it came from
(`app` = slug; `_mgx` for MGX's own telemetry).

Spans are stored one document per trace per export request (`SpanGroup`): the spans of that
trace the request carried, with their resource once. A span a document would be the obvious
shape, but the embedded store (nx-27017, SQLite underneath) pays about 0.2 ms per document
whatever its size, which caps ingestion near 4,000 spans/s; apps send whole traces in one batch
(a request and its 5–20 children), so grouping stores a tenth of the documents. Each group keeps
what the lists filter and sort on at its top level: the trace's time span, worst status, span
names, error messages and the root span's name when the group holds it. Log records are one
document each.

Attributes are kept as a list of {"k", "v"} pairs rather than a sub-document: OpenTelemetry's
keys are dotted (`http.route`), which MongoDB treats as paths. Times are UTC datetimes for
queries (`start`, `time`) plus the exact nanoseconds for the waterfall. `received_at` is what
retention goes by: data whose own clock is wrong is still removed on time.

Writes go through the collections' `insert_many` (services.ingest), never a save per document.
"""
import mongoengine as me

from .tokens import MGX_APP  # noqa: F401 (documents are tagged with it)


class SpanGroup(me.Document):
    app = me.StringField(required=True)
    trace_id = me.StringField(required=True)
    service = me.StringField(default="")
    resource = me.ListField(me.DictField())
    start = me.DateTimeField()  # the earliest span's start
    start_ns = me.IntField(default=0)
    end_ns = me.IntField(default=0)
    # Worst of its spans: 0 unset, 1 ok, 2 error (OTLP StatusCode); 2 also when its root answered 5xx.
    status = me.IntField(default=0)
    n = me.IntField(default=0)  # spans in `spans`
    root = me.StringField(default="")  # the root span's name, if this group holds the root
    names = me.ListField(me.StringField())
    errors = me.ListField(me.StringField())
    # Each: span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ms, status,
    # status_message, attributes, scope, events [{name, time_ns, attributes}].
    spans = me.ListField(me.DictField())
    received_at = me.DateTimeField()

    meta = {
        "collection": "otel_spans",
        "indexes": [{"fields": ["app", "trace_id"]}, {"fields": ["app", "-start"]}, {"fields": ["received_at"]}],
    }


class LogEntry(me.Document):
    app = me.StringField(required=True)
    time = me.DateTimeField()
    time_ns = me.IntField(default=0)
    severity_number = me.IntField(default=0)
    severity_text = me.StringField(default="")
    body = me.StringField(default="")
    trace_id = me.StringField(default="")
    span_id = me.StringField(default="")
    service = me.StringField(default="")
    stage = me.StringField(default="")  # "dev" or "prod" (X-MGX-Stage), "" when unknown
    attributes = me.ListField(me.DictField())
    resource = me.ListField(me.DictField())
    received_at = me.DateTimeField()

    meta = {
        "collection": "otel_logs",
        "indexes": [{"fields": ["app", "-time"]}, {"fields": ["app", "trace_id"]}, {"fields": ["received_at"]}],
    }


def spans():
    return SpanGroup._get_collection()


def logs():
    return LogEntry._get_collection()
