// Traces and log lines reach an OTLP/HTTP receiver (a local stand-in for MGX's) as protobuf,
// with the app's service name and the ingest token header.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { trace } from "@opentelemetry/api";

test("spans and log lines are exported over OTLP/HTTP with service.name and the ingest token", async () => {
  const received = [];
  const server = createServer(async (req, res) => {
    let body = Buffer.alloc(0);
    for await (const chunk of req) body = Buffer.concat([body, chunk]);
    received.push({ path: req.url, type: req.headers["content-type"], auth: req.headers.authorization, body: body.toString("latin1") });
    res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${/** @type {any} */ (server.address()).port}`;
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer ingest-token", OTEL_SERVICE_NAME: "__APP_SLUG__" });
  try {
    const { startTelemetry } = await import("../lib/telemetry.mjs");
    const { log } = await import("../lib/log.mjs");
    const providers = startTelemetry();
    trace.getTracer("test").startActiveSpan("home.render", (span) => span.end());
    log.info("a line for MGX");
    await providers.tracerProvider.forceFlush();
    await providers.loggerProvider.forceFlush();

    const traces = received.find((r) => r.path === "/v1/traces");
    const logs = received.find((r) => r.path === "/v1/logs");
    assert.ok(traces && traces.body.includes("home.render") && traces.body.includes("__APP_SLUG__"));
    assert.ok(logs && logs.body.includes("a line for MGX"));
    for (const r of [traces, logs]) {
      assert.equal(r.type, "application/x-protobuf");
      assert.equal(r.auth, "Bearer ingest-token");
    }
    await providers.tracerProvider.shutdown();
    await providers.loggerProvider.shutdown();
  } finally {
    server.close();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  }
});
