// The Logs tab and the read-only Terminal tab: each opens one websocket to the chosen
// container's output (recent lines first, then live ones) and says when the container stops.
// Neither ever sends a frame: the server would refuse it anyway.
(function () {
  "use strict";
  const MAX_LINES = 20000; // kept in the page; the download has the whole log

  const open = new Set(); // {root, close()} of the views on the page

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  // One socket to one role; reconnects with backoff while the view is on the page. `onEnd`
  // is told when the container stopped (no reconnect then until the user picks again).
  function follow(base, role, tail, handlers) {
    let ws = null, closed = false, delay = 1000, ended = false, refusedWith = "";
    function connect() {
      ws = new WebSocket(wsUrl(base + encodeURIComponent(role) + "/?tail=" + tail));
      ws.onopen = () => { delay = 1000; handlers.state("Live", "ok"); };
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.kind === "lines") handlers.lines(msg.data.lines, msg.data.replay);
        else if (msg.kind === "end") { ended = true; handlers.state(msg.data.message, "end"); }
        else if (msg.kind === "refused") { refusedWith = String(msg.data.message || ""); delay = 15000; }
      };
      ws.onclose = (ev) => {
        if (closed || ended) return;
        if (ev.code === 4403) { handlers.state("You may not see this app's output.", "end"); return; }
        handlers.state(ev.code === 4429 && refusedWith ? refusedWith : "Disconnected; reconnecting…", "bad");
        refusedWith = "";
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      };
    }
    connect();
    return {
      close() { closed = true; if (ws) ws.close(); },
      retry() { if (ended) { ended = false; connect(); } },
    };
  }

  function stampOf(ts) {
    // Docker's RFC 3339 with nanoseconds: show date and time to the millisecond.
    return ts ? ts.replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1") : "";
  }

  function initLogs(root) {
    const $ = (id) => root.querySelector("#" + id);
    const out = $("logs-out"), state = $("logs-state"), pause = $("logs-pause"), filter = $("logs-filter");
    const stamps = $("logs-ts"), target = $("logs-target"), download = $("logs-download");
    let lines = [], held = [], paused = false, conn = null;

    function setState(text, kind) {
      state.textContent = text;
      state.className = "logs-state " + (kind === "ok" ? "ok" : kind === "end" || kind === "bad" ? "bad" : "muted");
      root.dataset.state = kind || "";
    }
    function matches(l) {
      const q = filter.value.trim().toLowerCase();
      return !q || l.line.toLowerCase().includes(q);
    }
    function row(l) {
      const div = document.createElement("div");
      div.className = "log-line";
      if (stamps.checked) {
        const t = document.createElement("span");
        t.className = "log-ts";
        t.textContent = stampOf(l.ts) + " ";
        div.append(t);
      }
      // ANSI colour codes are for the terminal view; here they would be noise.
      div.append(document.createTextNode(l.line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")));
      return div;
    }
    function render() {
      out.replaceChildren(...lines.filter(matches).map(row));
      out.scrollTop = out.scrollHeight;
    }
    function add(batch) {
      const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
      lines.push(...batch);
      if (lines.length > MAX_LINES) lines = lines.slice(-MAX_LINES);
      const frag = document.createDocumentFragment();
      batch.filter(matches).forEach((l) => frag.append(row(l)));
      out.append(frag);
      while (out.childElementCount > MAX_LINES) out.firstElementChild.remove();
      if (atBottom) out.scrollTop = out.scrollHeight;
    }
    function start() {
      if (conn) conn.close();
      lines = []; held = [];
      out.replaceChildren();
      download.href = root.dataset.download.replace("ROLE", encodeURIComponent(target.value));
      setState("Connecting…");
      conn = follow(root.dataset.ws, target.value, root.dataset.tail || 200, {
        lines(batch, replay) {
          if (replay) { lines = []; out.replaceChildren(); }
          if (paused && !replay) { held.push(...batch); setState(`Paused (${held.length} new lines)`, "muted"); return; }
          add(batch);
        },
        state: setState,
      });
    }
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(paused));
      if (!paused) { add(held); held = []; setState("Live", "ok"); } else setState("Paused", "muted");
    });
    filter.addEventListener("input", render);
    stamps.addEventListener("change", render);
    target.addEventListener("change", start);
    start();
    return { root, close: () => conn && conn.close() };
  }

  function initTerminal(root) {
    const $ = (id) => root.querySelector("#" + id);
    const screen = $("terminal-screen"), state = $("terminal-state"), target = $("terminal-target");
    if (!window.Terminal) { state.textContent = "The terminal script did not load."; return null; }
    const term = new window.Terminal({
      disableStdin: true, convertEol: true, scrollback: 5000, cursorBlink: false, fontSize: 13,
      theme: { background: "#0f172a", foreground: "#e2e8f0" },
    });
    const fit = window.FitAddon ? new window.FitAddon.FitAddon() : null;
    if (fit) term.loadAddon(fit);
    term.open(screen);
    const hideCursor = "\x1b[?25l"; // nothing is typed here: no cursor to suggest otherwise
    if (fit) { fit.fit(); window.addEventListener("resize", () => fit.fit()); }
    let conn = null;
    function setState(text, kind) {
      state.textContent = text;
      state.className = "logs-state " + (kind === "ok" ? "ok" : kind === "end" || kind === "bad" ? "bad" : "muted");
      root.dataset.state = kind || "";
      if (kind === "end") term.write("\r\n\x1b[33m— " + text + " —\x1b[0m\r\n");
    }
    function start() {
      if (conn) conn.close();
      term.reset();
      term.write(hideCursor);
      setState("Connecting…");
      conn = follow(root.dataset.ws, target.value, 500, {
        lines(batch, replay) {
          if (replay) { term.reset(); term.write(hideCursor); }
          term.write(batch.map((l) => l.line + "\n").join(""));
        },
        state: setState,
      });
    }
    target.addEventListener("change", start);
    start();
    return { root, close: () => { if (conn) conn.close(); term.dispose(); } };
  }

  function scan() {
    // A tab swapped away takes its socket with it.
    for (const view of [...open]) {
      if (!document.body.contains(view.root)) { view.close(); open.delete(view); }
    }
    document.querySelectorAll("#logs, #terminal").forEach((root) => {
      if (root.dataset.ready) return;
      root.dataset.ready = "1";
      const view = root.id === "logs" ? initLogs(root) : initTerminal(root);
      if (view) open.add(view);
    });
  }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
  document.addEventListener("htmx:historyRestore", scan);
})();
