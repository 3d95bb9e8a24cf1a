"""A recording OTLP/HTTP receiver for the template tests: what an app's containers send to
OTEL_EXPORTER_OTLP_ENDPOINT (protobuf, the SDKs' default), decoded with opentelemetry-proto.
It listens where containers reach the host (the Docker bridge address, MGX_INTERNAL_HOST) on the
port of MGX_APPS_OTLP_ENDPOINT. Until MGX has its own receiver (issue 15) this stands in for it."""
from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def _attributes(kvs) -> dict:
    return {kv.key: kv.value.string_value for kv in kvs}


class OtlpReceiver:
    def __init__(self, *, host: str, endpoint: str):
        self.spans: list[dict] = []  # {"service", "name", "authorization"}
        self.logs: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # Node's exporters stream the body in chunks, with no Content-Length.
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()

            def do_POST(self):
                body = self._body()
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._record(self.path, body, self.headers.get("Authorization", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        port = urlsplit(endpoint).port
        self.server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, path: str, body: bytes, authorization: str) -> None:
        if path.endswith("/v1/traces"):
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = _attributes(resource_spans.resource.attributes).get("service.name", "")
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append({"service": service, "name": span.name, "authorization": authorization})
        elif path.endswith("/v1/logs"):
            request = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
            for resource_logs in request.resource_logs:
                service = _attributes(resource_logs.resource.attributes).get("service.name", "")
                for scope in resource_logs.scope_logs:
                    for record in scope.log_records:
                        self.logs.append({"service": service, "body": record.body.string_value,
                                          "authorization": authorization})

    def wait_for_span(self, *, service: str, name: str | None = None, timeout: float = 60) -> dict:
        """The first span of `service` (named `name`), waiting for the app's batch exporter."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in list(self.spans):
                if span["service"] == service and (name is None or span["name"] == name):
                    return span
            time.sleep(0.5)
        raise AssertionError(f"no span {name or ''} of {service} arrived; got {[(s['service'], s['name']) for s in self.spans][:20]}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
