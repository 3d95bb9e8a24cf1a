"""OTLP/HTTP request bodies (protobuf or JSON, optionally gzip) to the documents we store.

JSON follows the OTLP/JSON rules: trace and span ids are hex strings (not base64, as protobuf's
own JSON mapping would read them), enums may be numbers, 64-bit integers may be strings. Ids
that arrive base64-encoded anyway (some older encoders) are recognised by their length.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import zlib
from urllib.parse import urlsplit

import bson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from containers.frameworks import DESCRIPTORS
from core.errors import Invalid, TooLarge

MAX_VALUE_CHARS = 8192  # one attribute value or log body, cut beyond this
# What one request may make, so a small body cannot become a huge pile of documents in Daphne's
# memory (8 MiB of empty attributes was 1.5 million of them). The SDKs send 512 spans a batch
# and keep at most 128 attributes and 128 events a span; beyond that MGX drops the rest, as
# they do.
MAX_ITEMS = 10_000  # spans or log records in one request
MAX_ATTRIBUTES = 128  # in one attribute list (a resource, span, event or log record)
MAX_EVENTS = 128  # of one span
MAX_LIST = 1024  # elements of one array or key-value list value
MAX_KEY_CHARS = 256
MAX_NANOS = 2**63 - 1  # MongoDB integers are signed 64-bit
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024  # MongoDB takes 16 MiB a document
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


class Malformed(Invalid):
    """The body is not an OTLP request of the kind the path names."""


def decompress(body: bytes, *, encoding: str, limit: int) -> bytes:
    """The body as sent before compression, refusing more than `limit` bytes of it (a small gzip
    body can unpack to gigabytes)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise Malformed(f"Unsupported Content-Encoding {encoding!r}: send gzip or none.")
    inflater = zlib.decompressobj(wbits=(16 + zlib.MAX_WBITS) if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Malformed(f"The body is not valid {encoding}: {exc}.") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"The uncompressed body is larger than {limit} bytes.")
    return out


def _hex_to_b64(value):
    if not isinstance(value, str) or not value:
        return value
    if len(value) in (16, 32):
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            pass
    return value  # already base64 (12 or 24 characters), or wrong, which parsing will say


def _ids_to_b64(node):
    if isinstance(node, dict):
        return {k: (_hex_to_b64(v) if k in _ID_KEYS else _ids_to_b64(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_ids_to_b64(v) for v in node]
    return node


def parse(body: bytes, *, content_type: str, kind: str):
    """`kind` is "traces" or "logs". Raises Malformed for anything that is not such a request,
    TooLarge for one with more than MAX_ITEMS spans or log records."""
    message = ExportTraceServiceRequest() if kind == "traces" else ExportLogsServiceRequest()
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("the body is not a JSON object")
            json_format.ParseDict(_ids_to_b64(data), message, ignore_unknown_fields=True)
        except RecursionError:
            raise Malformed("The body is not OTLP/JSON: it is nested too deeply.") from None
        except (ValueError, json_format.ParseError, TypeError, AttributeError) as exc:
            raise Malformed(f"The body is not OTLP/JSON: {str(exc)[:200]}") from exc
    elif ctype in ("application/x-protobuf", "application/protobuf", ""):
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, RecursionError) as exc:
            raise Malformed("The body is not an OTLP protobuf message.") from exc
    else:
        raise Malformed(f"Unsupported Content-Type {ctype[:100]!r}: send application/x-protobuf or application/json.")
    if kind == "traces":
        items = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
    else:
        items = sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)
    if items > MAX_ITEMS:
        raise TooLarge(f"The request holds {items:,} {'spans' if kind == 'traces' else 'log records'}; "
                       f"send at most {MAX_ITEMS:,} a request.")
    return message


def _value(v):
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return v.string_value[:MAX_VALUE_CHARS]
    if which == "array_value":
        return [_value(x) for x in v.array_value.values[:MAX_LIST]]
    if which == "kvlist_value":
        return {kv.key[:MAX_KEY_CHARS]: _value(kv.value) for kv in v.kvlist_value.values[:MAX_LIST]}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if which == "int_value":
        # MongoDB integers are 64-bit signed, as OTLP's are.
        return v.int_value
    return getattr(v, which)


def _attrs(kvs) -> list[dict]:
    return [{"k": kv.key[:MAX_KEY_CHARS], "v": _value(kv.value)} for kv in kvs[:MAX_ATTRIBUTES]]


def _nanos(ns: int) -> int:
    if ns > MAX_NANOS:
        raise Malformed("A time is out of range (nanoseconds since 1970 must fit in a signed 64-bit integer).")
    return ns


def _service(resource_attrs: list[dict]) -> str:
    return next((str(a["v"]) for a in resource_attrs if a["k"] == "service.name"), "")


def _time(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc) if ns else dt.datetime.now(dt.timezone.utc)


# What a span says about the HTTP request it served, old and new semantic conventions alike
# (FastAPI's instrumentation: http.target/http.route; Next.js: http.target/next.route; the
# stable conventions: url.path/http.route/http.response.status_code).
PATH_KEYS = ("url.path", "http.target", "http.url", "url.full")
ROUTE_KEYS = ("http.route", "next.route")
STATUS_KEYS = ("http.response.status_code", "http.status_code")
STAGES = ("dev", "prod")
# The health checks the templates answer (Docker's HEALTHCHECK, the dev boot, the deploy probe).
HEALTH_PATHS = frozenset("/" + d.health_path.strip("/") for d in DESCRIPTORS.values())


def _attr(span_attrs: list[dict], keys) -> object:
    values = {a["k"]: a["v"] for a in span_attrs if a["k"] in keys}
    return next((values[k] for k in keys if values.get(k) not in (None, "")), None)


def _stage_in(text: str, base: re.Pattern) -> str:
    found = base.search(text or "")
    return found.group(1) if found else ""


def _request_path(span: dict, base: re.Pattern) -> str:
    """The path the span served, without the app's base path (/apps/<slug>/dev|prod) and query."""
    raw = _attr(span["attributes"], PATH_KEYS)
    path = str(raw) if raw is not None else ""
    if path.startswith(("http://", "https://")):
        try:
            path = urlsplit(path).path
        except ValueError:
            path = ""
    if not path:  # "GET /api/orders": what both templates name a server span
        method, _, rest = span["name"].partition(" ")
        path = rest if method.isupper() and rest.startswith("/") else ""
    path = path.split("?", 1)[0]
    return base.sub("", path, count=1) or "/"


def _request_of(span: dict, base: re.Pattern) -> dict:
    """route, HTTP status and whether it is a health check, for a root span."""
    route = _attr(span["attributes"], ROUTE_KEYS)
    route = base.sub("", str(route), count=1) if route is not None else _request_path(span, base)
    route = route.removesuffix("/route") if route.endswith("/route") else route  # Next.js route handlers
    status = _attr(span["attributes"], STATUS_KEYS)
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    checked = {route.rstrip("/") or "/", _request_path(span, base).rstrip("/") or "/"}
    return {"route": route[:500], "http_status": status, "health": bool(checked & HEALTH_PATHS)}


def span_documents(message: ExportTraceServiceRequest, *, app: str, received_at: dt.datetime,
                   stage: str = "") -> list[dict]:
    """One document per trace per resource in the request (documents.py says why), holding that
    trace's spans of the request.

    Each is tagged with what the lists filter on: `stage` ("dev" or "prod": the one the sending
    container says, `X-MGX-Stage`, else the app's base path `/apps/<app>/dev|prod` in a span's
    path or name, else ""); and, for the group holding the trace's root, the root's `route`,
    `http_status` and `health` (True only for a request to the template's health path)."""
    base = re.compile(rf"^(?:https?://[^/]+)?/apps/{re.escape(app)}/({'|'.join(STAGES)})(?=/|$|\?)")
    anywhere = re.compile(rf"/apps/{re.escape(app)}/({'|'.join(STAGES)})(?=/|$|\?)")
    docs = []
    for rs in message.resource_spans:
        resource = _attrs(rs.resource.attributes)
        service = _service(resource)
        groups: dict[str, dict] = {}
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for s in ss.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8:
                    raise Malformed("A span has no valid trace id (16 bytes) or span id (8 bytes).")
                start = _nanos(s.start_time_unix_nano)
                end = max(_nanos(s.end_time_unix_nano), start)
                span = {"span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(), "name": s.name[:500],
                        "kind": int(s.kind), "start_ns": start, "end_ns": end, "duration_ms": (end - start) / 1e6,
                        "status": int(s.status.code), "status_message": s.status.message[:MAX_VALUE_CHARS],
                        "attributes": _attrs(s.attributes), "scope": scope,
                        "events": [{"name": e.name[:500], "time_ns": _nanos(e.time_unix_nano),
                                    "attributes": _attrs(e.attributes)} for e in s.events[:MAX_EVENTS]]}
                trace_id = s.trace_id.hex()
                group = groups.get(trace_id)
                if group is None:
                    group = groups[trace_id] = {
                        "app": app, "trace_id": trace_id, "service": service, "resource": resource,
                        "start_ns": start, "end_ns": end, "status": 0, "n": 0, "root": "", "names": [],
                        "errors": [], "spans": [], "received_at": received_at}
                group["spans"].append(span)
                group["n"] += 1
                group["names"].append(span["name"])
                group["start_ns"], group["end_ns"] = min(group["start_ns"], start), max(group["end_ns"], end)
                group["status"] = max(group["status"], span["status"])
                if span["status"] == 2 and span["status_message"]:
                    group["errors"].append(span["status_message"][:500])
                if not span["parent_span_id"]:
                    group["root"] = span["name"]
                    request = _request_of(span, base)
                    group.update(route=request["route"], http_status=request["http_status"])
                    if (request["http_status"] or 0) >= 500:
                        group["status"] = 2  # the request failed, whether or not its instrumentation said so
                    if request["health"]:
                        group["health"] = True  # only ever True: a missing field reads as "not a health check"
                if stage not in STAGES and "stage" not in group:
                    found = _stage_in(span["name"], anywhere) or next(
                        (_stage_in(str(a["v"]), anywhere) for a in span["attributes"]
                         if a["k"] in PATH_KEYS + ROUTE_KEYS and _stage_in(str(a["v"]), anywhere)), "")
                    if found:
                        group["stage"] = found
        for group in groups.values():
            group["start"] = _time(group["start_ns"])
            group["stage"] = stage if stage in STAGES else group.get("stage", "")
            docs.append(group)
    return docs


def _body_text(v) -> str:
    value = _value(v)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)[:MAX_VALUE_CHARS]


def log_documents(message: ExportLogsServiceRequest, *, app: str, received_at: dt.datetime,
                  stage: str = "") -> list[dict]:
    """One document per log record, tagged with `stage` ("dev" or "prod", what the sending
    container says in `X-MGX-Stage`; "" when unknown)."""
    stage = stage if stage in STAGES else ""
    docs = []
    for rl in message.resource_logs:
        resource = _attrs(rl.resource.attributes)
        service = _service(resource)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                ns = _nanos(r.time_unix_nano or r.observed_time_unix_nano)
                docs.append({
                    "app": app, "time": _time(ns), "time_ns": ns or int(received_at.timestamp() * 1e9),
                    "severity_number": int(r.severity_number), "severity_text": r.severity_text[:40],
                    "body": _body_text(r.body), "trace_id": r.trace_id.hex() if len(r.trace_id) == 16 else "",
                    "span_id": r.span_id.hex() if len(r.span_id) == 8 else "", "service": service,
                    "attributes": _attrs(r.attributes), "resource": resource, "received_at": received_at,
                    "stage": stage,
                })
    return docs


def check_storable(docs: list[dict]) -> None:
    """Refuse, before anything is written, documents MongoDB would refuse half-way through an
    insert (too large a document, a value BSON cannot hold)."""
    for doc in docs:
        try:
            size = len(bson.encode(doc))
        except (OverflowError, bson.errors.InvalidDocument) as exc:
            raise Malformed(f"The request holds a value that cannot be stored: {str(exc)[:200]}") from exc
        if size > MAX_DOCUMENT_BYTES:
            raise TooLarge("One trace in the request is too large to store; send fewer or smaller spans a request.")


__all__ = ["parse", "decompress", "span_documents", "log_documents", "check_storable", "Malformed"]
