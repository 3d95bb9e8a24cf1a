"""Telemetry received over OTLP, in MongoDB (`mgx` database), one document per span and per log
record, each tagged with the app it came from (`app` = slug; `_mgx` for MGX's own telemetry).

Attributes are kept as a list of {"k", "v"} pairs rather than a sub-document: OpenTelemetry's
keys are dotted (`http.route`), which MongoDB treats as paths. Times are UTC datetimes for
queries and retention, plus the exact nanoseconds (`start_ns`, `end_ns`, `time_ns`) for the
waterfall. `received_at` is what retention goes by: a span whose own clock is wrong is still
removed on time.

Writes go through the collections' `insert_many` (services.ingest): the receiver takes
hundreds of spans a request, and mongoengine's per-document save would be one round trip each.
"""
import mongoengine as me

from .tokens import MGX_APP  # noqa: F401 (documents are tagged with it)


class Span(me.Document):
    app = me.StringField(required=True)
    trace_id = me.StringField(required=True)
    span_id = me.StringField(required=True)
    parent_span_id = me.StringField(default="")
    name = me.StringField(default="")
    kind = me.IntField(default=0)
    service = me.StringField(default="")
    start = me.DateTimeField()
    start_ns = me.IntField(default=0)
    end_ns = me.IntField(default=0)
    duration_ms = me.FloatField(default=0.0)
    status = me.IntField(default=0)  # 0 unset, 1 ok, 2 error (OTLP StatusCode)
    status_message = me.StringField(default="")
    attributes = me.ListField(me.DictField())
    resource = me.ListField(me.DictField())
    scope = me.StringField(default="")
    events = me.ListField(me.DictField())
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
    attributes = me.ListField(me.DictField())
    resource = me.ListField(me.DictField())
    received_at = me.DateTimeField()

    meta = {
        "collection": "otel_logs",
        "indexes": [{"fields": ["app", "-time"]}, {"fields": ["app", "trace_id"]}, {"fields": ["received_at"]}],
    }


def spans():
    return Span._get_collection()


def logs():
    return LogEntry._get_collection()
