// Application log lines: printed to the container's output (MGX's Dev tab shows it) and, when
// telemetry is on, sent as OpenTelemetry log records to MGX with the current trace attached.
// Use `log.info("…")` instead of console.log for lines worth keeping.
import { SeverityNumber, logs } from "@opentelemetry/api-logs";
import { format } from "node:util";

function emitter(severityNumber, severityText, method) {
  return (...args) => {
    /** @type {any} */ (console)[method](...args);
    try {
      logs.getLogger("app").emit({ severityNumber, severityText, body: format(...args) });
    } catch {
      // Telemetry never breaks the app.
    }
  };
}

export const log = {
  debug: emitter(SeverityNumber.DEBUG, "DEBUG", "debug"),
  info: emitter(SeverityNumber.INFO, "INFO", "info"),
  warn: emitter(SeverityNumber.WARN, "WARN", "warn"),
  error: emitter(SeverityNumber.ERROR, "ERROR", "error"),
};
