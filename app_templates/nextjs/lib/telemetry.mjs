// OpenTelemetry: traces and logs over OTLP/HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT, with
// OTEL_EXPORTER_OTLP_HEADERS (the exporters read both themselves and append /v1/traces and
// /v1/logs). Off when no endpoint is set: the app works the same without it.
// Next.js makes the request spans itself once a tracer provider is registered; the home page
// adds its own span (`home.render`); lines written with lib/log.mjs go out as log records.
import { logs } from "@opentelemetry/api-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

export function serviceName(env = process.env) {
  return env.OTEL_SERVICE_NAME || env.MGX_APP_SLUG || "__APP_SLUG__";
}

/** Start telemetry once per process; returns the providers (for a flush in tests) or null. */
export function startTelemetry(env = process.env) {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT) return null;
  const state = /** @type {any} */ (globalThis);
  if (state.__mgxTelemetry) return state.__mgxTelemetry;
  const resource = resourceFromAttributes({ "service.name": serviceName(env) });
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  tracerProvider.register();
  const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor(new OTLPLogExporter())] });
  logs.setGlobalLoggerProvider(loggerProvider);
  state.__mgxTelemetry = { tracerProvider, loggerProvider };
  return state.__mgxTelemetry;
}
