// The Dev tab's preview, as a pointer. The app in the iframe runs on the apps origin; its
// template's dev-only script (app_templates/*/mgx-dev/preview.js) talks to this page with
// postMessage. Trust runs one way at a time:
// - a message counts only when it comes from the preview iframe's own window AND from the
//   origin that iframe was given (MGX_APPS_URL); anything else is dropped unread;
// - what it says is data: a report is forwarded as JSON to MGX
//   (POST /sessions/<slug>/dev/page-report), a picked element becomes plain text in the chat's
//   textarea; none of it ever becomes markup here;
// - this page sends only {select: on|off}, and only to the apps origin.
// The panel is re-rendered by htmx on every dev status event; the iframe is kept across those
// swaps (hx-preserve), and everything here is found anew each time from the document.
(function () {
  "use strict";
  const REPORTS_PER_MINUTE = 12;
  let selecting = false;
  let lastReport = "";
  const sent = []; // times of the reports forwarded in the last minute
  let held = null, holdTimer = null;

  const panel = () => document.getElementById("dev-panel");
  const frame = () => document.getElementById("dev-preview-frame");
  function appsOrigin(iframe) {
    try { return new URL(iframe.getAttribute("src"), location.href).origin; } catch (e) { return ""; }
  }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function text(value, n) {
    // eslint-disable-next-line no-control-regex
    value = typeof value === "string" ? value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "") : "";
    return value.length > n ? value.slice(0, n - 1) + "…" : value;
  }

  // ------------------------------------------------------------------ reports
  function forward(report) {
    const p = panel();
    if (!p || !p.dataset.reportUrl) return;
    const now = Date.now();
    while (sent.length && now - sent[0] > 60000) sent.shift();
    if (sent.length >= REPORTS_PER_MINUTE) {
      // Over the cap: keep only the newest, sent when the minute allows, so the last word counts.
      held = report;
      if (!holdTimer) holdTimer = setTimeout(() => { holdTimer = null; const r = held; held = null; if (r) forward(r); }, 60000 - (now - sent[0]));
      return;
    }
    sent.push(now);
    fetch(p.dataset.reportUrl, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(report),
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    }).catch(() => { lastReport = ""; }); // not delivered: the same report may go again
  }
  function onReport(data) {
    const kind = data.kind === "ok" ? "ok" : data.kind === "error" ? "error" : "";
    if (!kind) return;
    const report = { kind, message: text(data.message, 1000), source: text(data.source, 300), url: text(data.url, 300) };
    const key = kind === "ok" ? "ok" : JSON.stringify(report);
    if (key === lastReport) return; // the same thing again says nothing new
    lastReport = key;
    forward(report);
  }

  // ------------------------------------------------------------------ Select
  function tell(iframe, on) {
    const origin = iframe && appsOrigin(iframe);
    if (origin && iframe.contentWindow) iframe.contentWindow.postMessage({ mgx: "studio", type: "select", on }, origin);
  }
  function setSelecting(on, { notify = true } = {}) {
    selecting = on;
    if (notify) tell(frame(), on);
    showSelecting();
  }
  function showSelecting() {
    const button = document.querySelector("#dev-panel .dev-select");
    if (button) {
      button.setAttribute("aria-pressed", selecting ? "true" : "false");
      button.classList.toggle("active", selecting);
    }
    const hint = document.querySelector("#dev-panel .select-hint");
    if (hint) hint.hidden = !selecting;
    const wrap = document.querySelector("#dev-panel .preview-frame");
    if (wrap) wrap.classList.toggle("selecting", selecting);
  }
  function reference(data) {
    const tag = text(data.tag, 40).replace(/[^a-z0-9-]/gi, "");
    const parts = [(tag ? "<" + tag + ">" : "an element") + (data.text ? ' "' + text(data.text, 80).replace(/\s+/g, " ") + '"' : "")];
    const source = text(data.source, 200).replace(/\s+/g, "");
    if (source) parts.push(source);
    const path = text(data.path, 200).replace(/\s+/g, " ");
    if (path) parts.push(path);
    return "[in the preview: " + parts.join(" — ") + "]";
  }
  function onPick(data) {
    setSelecting(false, { notify: false });
    const p = panel();
    const slug = p && p.dataset.slug;
    if (!slug) return;
    // The chat is another tab: the reference waits in this tab's storage, chat.js puts it into
    // the message box when the Chat tab opens.
    try { sessionStorage.setItem("mgx:chat-insert:" + slug, reference(data)); } catch (e) { return; }
    const chatTab = document.querySelector('.tabs .tab[href="?tab=chat"]');
    if (chatTab && window.htmx) chatTab.click();
    else location.href = "?tab=chat";
  }

  // ------------------------------------------------------------------ the one listener
  window.addEventListener("message", (event) => {
    const iframe = frame();
    if (!iframe || event.source !== iframe.contentWindow || event.origin !== appsOrigin(iframe)) return;
    const data = event.data;
    if (!data || typeof data !== "object" || data.mgx !== "preview") return;
    if (data.type === "report") onReport(data);
    else if (data.type === "pick") onPick(data);
    else if (data.type === "select" && data.on === false) setSelecting(false, { notify: false });
    else if (data.type === "hello") { lastReport = ""; if (selecting) tell(iframe, true); } // a (re)loaded page
  });

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("#dev-panel .dev-select");
    if (button) setSelecting(!selecting);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selecting) setSelecting(false);
  });
  // A re-rendered panel shows the state; a panel without a preview ends Select.
  document.addEventListener("htmx:afterSettle", () => {
    if (selecting && !frame()) selecting = false;
    showSelecting();
  });
})();
