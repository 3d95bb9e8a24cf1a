"""The OTLP receiver's throughput: spans per second accepted, and request latency.

Private stack like the tests (mgx_site.settings.test: real MongoDB store, Daphne). Spans made by
the real opentelemetry-sdk are sent by its real OTLP/HTTP exporter (protobuf) in batches of
512, the BatchSpanProcessor's default, from a few concurrent senders (as several app processes
would), with the app's ingest token. Prints spans/s accepted and p50/p99 request latency, and
checks every span was stored. Target: >= 5,000 spans/s.

    .venv/bin/python bench/otlp.py [--spans 50000] [--senders 4] [--batch 512]
"""
import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = ""  # MGX's own spans would be measured too
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from mgx_site.cli import procs  # noqa: E402
from sessions_app.models import App  # noqa: E402


def make_spans(n: int, service: str):
    """n spans in traces of 8 (a request and its children), with a few attributes each, as an
    instrumented web app makes them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "1.0"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for i in range(n // 8):
        with tracer.start_as_current_span("GET /api/items", attributes={"http.method": "GET", "http.route": "/api/items",
                                                                        "http.status_code": 200}):
            for j in range(7):
                with tracer.start_as_current_span(f"db.find items {j}", attributes={"db.system": "mongodb",
                                                                                    "db.operation": "find"}):
                    pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    call_command("migrate", verbosity=0)
    env = dict(os.environ)
    started = procs.start_all(layout, [stack["redis"], stack["mongo"], stack["daphne"]], env=env)
    latencies, failures, lock = [], [], threading.Lock()
    try:
        from observability.documents import spans
        from observability.services import app_ingest_token

        user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
        app = App.objects.create(slug="otlp-bench", name="OTLP bench", framework="nextjs", owner=user)
        token = app_ingest_token(app=app)
        print(f"making {args.spans} spans with the SDK…", flush=True)
        made = make_spans(args.spans, app.slug)
        batches = [made[i:i + args.batch] for i in range(0, len(made), args.batch)]
        url = f"http://127.0.0.1:{os.environ['MGX_PORT']}/otlp/v1/traces"
        # Warm-up: the first request opens the database connections and imports the decoders.
        OTLPSpanExporter(endpoint=url, headers={"authorization": f"Bearer {token}", "x-mgx-app": app.slug}).export(batches[0][:8])
        spans().delete_many({"app": app.slug})

        def sender(mine):
            exporter = OTLPSpanExporter(endpoint=url, headers={"authorization": f"Bearer {token}", "x-mgx-app": app.slug},
                                        timeout=30)
            for batch in mine:
                t0 = time.perf_counter()
                result = exporter.export(batch)
                took = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(took)
                    if result != SpanExportResult.SUCCESS:
                        failures.append(len(batch))

        threads = [threading.Thread(target=sender, args=(batches[i::args.senders],)) for i in range(args.senders)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        stored = sum(g["n"] for g in spans().find({"app": app.slug}, {"n": 1}))
    finally:
        procs.stop_started(layout, started)
        shutil.rmtree(layout.var_dir, ignore_errors=True)

    lat = sorted(latencies)
    sent = len(made) - sum(failures)
    rate = sent / seconds
    print(f"{len(made)} spans in {len(batches)} requests of {args.batch} from {args.senders} senders: {seconds:.1f} s")
    print(f"accepted: {rate:.0f} spans/s (target >= 5000) {'OK' if rate >= 5000 else 'BELOW TARGET'}; "
          f"failed requests: {len(failures)}; stored: {stored}")
    print(f"request latency: p50 {statistics.median(lat):.0f} ms, p99 {lat[max(0, int(len(lat) * 0.99) - 1)]:.0f} ms")


if __name__ == "__main__":
    main()
