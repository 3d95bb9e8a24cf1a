"""Traces and logs leave over OTLP/HTTP with service.name = the app's slug, including the custom
`home.render` span; a local receiver stands in for MGX's."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .conftest import BASE, make_settings


def test_request_spans_the_custom_span_and_logs_reach_the_otlp_endpoint(client_for, monkeypatch):
    received: list[tuple[str, bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, body, self.headers.get("Authorization", "")))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    # The exporters read these themselves, as they will in the container.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer ingest-token")
    try:
        client = client_for(make_settings(None, otlp_endpoint=endpoint, service_name="demo-svc"))
        assert client.get(f"{BASE}/api/home").status_code == 200
        client.app.state.telemetry.flush()

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not {"/v1/traces", "/v1/logs"} <= {p for p, _, _ in received}:
            time.sleep(0.05)
        traces = b"".join(body for path, body, _ in received if path == "/v1/traces")
        assert b"demo-svc" in traces and b"home.render" in traces and b"GET /api/home" in traces
        assert any(path == "/v1/logs" for path, _, _ in received)
        assert all(auth == "Bearer ingest-token" for _, _, auth in received)
    finally:
        server.shutdown()
        server.server_close()
