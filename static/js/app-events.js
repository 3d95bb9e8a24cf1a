// Live events of the app on this page over a websocket: each one becomes a DOM event that
// HTMX partials listen to (hx-trigger="mgx:dev from:body"), so panels re-render themselves.
// Reconnects with backoff; the server sends full state on each change, so nothing is replayed.
(function () {
  "use strict";
  // Log boxes show their newest lines: that is where a failure explains itself.
  function tailLogs() { document.querySelectorAll(".dev-log pre").forEach((p) => { p.scrollTop = p.scrollHeight; }); }
  document.addEventListener("DOMContentLoaded", tailLogs);
  document.addEventListener("htmx:afterSettle", tailLogs);
  const holder = document.querySelector("[data-events]");
  if (!holder) return;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + holder.dataset.events;
  let delay = 500;
  let watchdog = null;
  // The server sends a heartbeat every ~20 s; three missed in a row means the connection is dead
  // even if the browser has not noticed: close it, and onclose reconnects.
  function alive(ws, interval) {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ws.close(), 3 * (interval || 20) * 1000);
  }
  function connect() {
    const ws = new WebSocket(url);
    ws.onopen = () => { delay = 500; alive(ws); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      alive(ws, msg.kind === "heartbeat" && msg.data ? msg.data.interval : undefined);
      if (msg.kind === "heartbeat") return;
      if (msg.kind === "refused") { delay = 15000; return; } // too many sockets: try again later
      const name = "mgx:" + msg.kind.split(".")[0];
      document.body.dispatchEvent(new CustomEvent(name, { detail: msg.data }));
      // The full kind too ("build.log" -> "mgx:build-log"): a panel can follow one kind only.
      document.body.dispatchEvent(new CustomEvent("mgx:" + msg.kind.replace(".", "-"), { detail: msg.data }));
    };
    ws.onclose = (ev) => {
      clearTimeout(watchdog);
      if (ev.code === 4403) return; // not allowed: retrying will not help
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
