"""The OTLP receiver against garbage, on the live Daphne: whatever the body, the answer is a 4xx
with a short message (never a 500), nothing is stored, and the log gets no traceback. The token
is checked before the body is looked at: a body without a valid token is never parsed, so an
unauthenticated request gets 401 whatever it carries."""
from __future__ import annotations

import gzip

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from observability import otlp, services
from observability.documents import logs, spans
from observability.selectors import spans_of
from observability.tokens import MGX_APP, derive_unnamed, mgx_ingest_token

from .otlp_clients import json_body, make_trace, protobuf_body

pytestmark = pytest.mark.django_db(transaction=True)

DEEP_JSON = b"[" * 5000 + b"]" * 5000  # 10 KB, nested 5,000 deep
DEEP_OBJECT = (b'{"a":' * 3000) + b"1" + b"}" * 3000


def _deep_attributes(depth: int) -> bytes:
    """OTLP/JSON whose one attribute value is kvlists nested `depth` deep (written out by hand:
    json.dumps itself stops at Python's recursion limit)."""
    value = '{"stringValue": "bottom"}'
    for _ in range(depth):
        value = '{"kvlistValue": {"values": [{"key": "k", "value": ' + value + '}]}}'
    span = ('{"traceId": "' + "ab" * 16 + '", "spanId": "' + "cd" * 8 + '", "name": "deep", "startTimeUnixNano": "1", '
            '"endTimeUnixNano": "2", "attributes": [{"key": "deep", "value": ' + value + '}]}')
    return ('{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + ']}]}]}').encode()


def _span_at(nanos: int) -> bytes:
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "far future"
    span.start_time_unix_nano = span.end_time_unix_nano = nanos
    return message.SerializeToString()


def _many_empty_attributes() -> bytes:
    """6 MB on the wire, 1.5 million attributes: hundreds of megabytes as Python objects and
    far over MongoDB's 16 MiB a document if all were kept."""
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "wide"
    span.attributes.extend([KeyValue(key="", value=AnyValue())] * 1_500_000)
    return message.SerializeToString()


def _many_spans() -> bytes:
    message = ExportTraceServiceRequest()
    scope = message.resource_spans.add().scope_spans.add()
    for i in range(otlp.MAX_ITEMS + 1):
        span = scope.spans.add()
        span.trace_id, span.span_id = b"\x01" * 16, i.to_bytes(8, "big")
    return message.SerializeToString()


GARBAGE = {
    "deeply nested JSON array": (DEEP_JSON, "application/json", ""),
    "deeply nested JSON object": (DEEP_OBJECT, "application/json", ""),
    "attribute values nested 3,000 deep": (_deep_attributes(3000), "application/json", ""),
    "attribute values nested 90 deep": (_deep_attributes(90), "application/json", ""),
    "JSON of the wrong shape": (b'{"resourceSpans": "nope"}', "application/json", ""),
    "a JSON list": (b"[1, 2, 3]", "application/json", ""),
    "not UTF-8": (b'{"resourceSpans": ["\xff\xfe"]}', "application/json", ""),
    "a number too big for JSON": (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": '
                                  b'"1e999999"}]}]}]}', "application/json", ""),
    "bad protobuf": (b"\x0a\xff\xff\xff\xff\x0f garbage", "application/x-protobuf", ""),
    "protobuf nested past its limit": (b"\x0a\x02" * 2000, "application/x-protobuf", ""),
    "a time past 2^63 ns": (_span_at(2**64 - 1), "application/x-protobuf", ""),
    "more spans than a request may hold": (_many_spans, "application/x-protobuf", ""),
    "the wrong content type": (b"<xml/>", "text/xml", ""),
    "gzip that is not": (b"\x1f\x8b not gzip at all", "application/x-protobuf", "gzip"),
    "gzip of deep JSON": (gzip.compress(DEEP_JSON), "application/json", "gzip"),
    "an unknown encoding": (b"abc", "application/x-protobuf", "br"),
}


@pytest.fixture
def shop(app_factory):
    app = app_factory(name="Garbage Shop")
    yield app
    services.telemetry_delete(slug=app.slug)


def _log_size(live) -> int:
    return live.layout.logfile("daphne").stat().st_size


def _log_since(live, offset: int) -> str:
    with open(live.layout.logfile("daphne"), "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


@pytest.mark.parametrize("what", list(GARBAGE))
def test_garbage_gets_a_4xx_with_a_short_message_and_no_traceback(live, shop, what):
    body, content_type, encoding = GARBAGE[what]
    body = body() if callable(body) else body
    headers = {"authorization": f"Bearer {services.app_ingest_token(app=shop)}", "x-mgx-app": shop.slug,
               "content-type": content_type}
    if encoding:
        headers["content-encoding"] = encoding
    offset = _log_size(live)
    answer = requests.post(f"{live.url}/otlp/v1/traces", data=body, headers=headers, timeout=60)
    assert 400 <= answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:300]}"
    message = answer.json()["message"]
    assert message and len(message) < 300
    assert spans_of(app=shop.slug) == []
    assert "Traceback" not in _log_since(live, offset)


def test_a_request_without_a_valid_token_is_never_parsed(live, shop):
    """Without its app's token a body gets 401 whatever it holds: the same garbage that a
    valid token gets a 400 for (it was parsed) gets 401 here (it was not)."""
    forged = "mgxi_" + shop.slug + "." + "0" * 64
    for what, (body, content_type, encoding) in GARBAGE.items():
        body = body() if callable(body) else body
        for authorization in (f"Bearer {forged}", "Bearer mgxi_0123", f"Bearer {mgx_ingest_token()}x"):
            headers = {"authorization": authorization, "content-type": content_type}
            if encoding:
                headers["content-encoding"] = encoding
            answer = requests.post(f"{live.url}/otlp/v1/traces", data=body, headers=headers, timeout=60)
            assert answer.status_code == 401, f"{what} with {authorization[:20]}…: {answer.status_code}"


def test_the_token_names_its_app_so_no_body_is_read_to_find_it(live, shop, app_factory):
    """A token alone (no X-MGX-App) says which app it is for: its own app's spans are stored
    under it whatever service.name says, and it opens no other app."""
    blog = app_factory(name="Garbage Blog")
    try:
        finished, trace_id = make_trace(shop.slug)  # service.name says shop ...
        headers = {"authorization": f"Bearer {services.app_ingest_token(app=blog)}",  # ... blog's token
                   "content-type": "application/x-protobuf"}
        assert requests.post(f"{live.url}/otlp/v1/traces", data=protobuf_body(finished), headers=headers,
                             timeout=30).status_code == 200
        assert spans_of(app=shop.slug) == [] and len(spans_of(app=blog.slug, trace_id=trace_id)) == 3
        # Naming another app beside it is refused.
        refused = requests.post(f"{live.url}/otlp/v1/traces", data=json_body(spans=finished),
                                headers={**headers, "content-type": "application/json", "x-mgx-app": shop.slug},
                                timeout=30)
        assert refused.status_code == 401 and spans_of(app=shop.slug) == []
    finally:
        services.telemetry_delete(slug=blog.slug)


def test_a_span_keeps_its_first_attributes_as_the_sdks_do(live, shop):
    headers = {"authorization": f"Bearer {services.app_ingest_token(app=shop)}",
               "content-type": "application/x-protobuf"}
    answer = requests.post(f"{live.url}/otlp/v1/traces", data=_many_empty_attributes(), headers=headers, timeout=120)
    assert answer.status_code == 200
    (span,) = spans_of(app=shop.slug)
    assert len(span["attributes"]) == otlp.MAX_ATTRIBUTES


def test_a_token_made_before_tokens_named_their_app_works_with_its_header(live, shop):
    """Containers started before the change hold such a token, and send X-MGX-App with it."""
    unnamed = derive_unnamed(shop.slug, services.ingest_key(app=shop).salt)
    finished, trace_id = make_trace(shop.slug)
    headers = {"authorization": f"Bearer {unnamed}", "content-type": "application/x-protobuf"}
    assert requests.post(f"{live.url}/otlp/v1/traces", data=protobuf_body(finished),
                         headers={**headers, "x-mgx-app": shop.slug}, timeout=30).status_code == 200
    assert len(spans_of(app=shop.slug, trace_id=trace_id)) == 3
    services.ingest_token_rotate(app=shop)
    assert requests.post(f"{live.url}/otlp/v1/traces", data=protobuf_body(finished),
                         headers={**headers, "x-mgx-app": shop.slug}, timeout=30).status_code == 401


def test_mgx_own_token_still_works(live):
    before = spans().count_documents({"app": MGX_APP})
    finished, _ = make_trace("mgx")
    answer = requests.post(f"{live.url}/otlp/v1/traces", data=protobuf_body(finished),
                           headers={"authorization": f"Bearer {mgx_ingest_token()}", "x-mgx-app": MGX_APP,
                                    "content-type": "application/x-protobuf"}, timeout=30)
    assert answer.status_code == 200
    assert spans().count_documents({"app": MGX_APP}) > before
    assert logs() is not None
