// MGX's preview script: dev only, never in a production build. Keep this file.
//
// MGX shows the dev server's page in an iframe on MGX's own page, which is another origin. This
// script, loaded by the dev server only, talks to that page with postMessage:
// - it reports what goes wrong here (an uncaught error, a rejected promise, a request to the
//   app's own paths that fails or answers 5xx, a compile error the framework announces) as
//   {kind: "error"}, and a clean load or a hot update that applied without one as {kind: "ok"}:
//   MGX's Dev badge turns red or green;
// - MGX's Select asks it to outline the element under the pointer; a click picks it (the click
//   does nothing else) and its reference goes back: the tag, its text, the file and line it is
//   written in (the data-mgx-src attribute the dev build adds) and a CSS path.
// It sends only to MGX's origin and takes messages only from MGX's page that frames it; not
// framed, or with no MGX origin, it does nothing. The same file is in both MGX templates.

export function startPreview({ mgxOrigin, base = "" }) {
  if (typeof window === "undefined") return IDLE;
  if (window.__mgxPreview) return window.__mgxPreview;
  let mgx = "";
  try { mgx = new URL(mgxOrigin).origin; } catch { /* no MGX origin: stay idle */ }
  if (!mgx || window.parent === window || mgx === "null") return IDLE;

  const post = (message) => window.parent.postMessage({ mgx: "preview", ...message }, mgx);
  let broken = false, last = "";
  function report(kind, message = "", source = "") {
    const key = `${kind}\n${message}\n${source}`;
    if (key === last) return;
    last = key;
    post({ type: "report", kind, message: cut(message, 1000), source: cut(source, 300), url: cut(location.href, 300) });
  }
  const preview = window.__mgxPreview = {
    active: true,
    error(message, source = "") { broken = true; report("error", String(message || "The page failed."), source); },
    updating() { broken = false; }, // a rebuild or a hot update starts: what broke may be fixed
    settled() { if (!broken) report("ok"); }, // loaded, or updated, with no error meanwhile
  };

  // Uncaught errors and rejections; a <script> of the app's own that does not load.
  window.addEventListener("error", (event) => {
    if (event instanceof ErrorEvent) {
      if (!event.filename && event.message === "Script error.") return; // another origin's: no details
      preview.error(event.message, event.filename ? `${local(event.filename)}:${event.lineno}:${event.colno}` : "");
    } else if (event.target instanceof HTMLScriptElement && own(event.target.src)) {
      preview.error(`The script ${local(event.target.src)} did not load.`, local(event.target.src));
    }
  }, true);
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    preview.error(`Unhandled promise rejection: ${reason && reason.message ? reason.message : String(reason)}`);
  });

  // Requests to the app's own paths (not the dev server's own: HMR, chunks) that fail or answer 5xx.
  function own(url) {
    try {
      const u = new URL(url, location.href);
      return u.origin === location.origin && (u.pathname + "/").startsWith(base + "/")
        && !/\/(_next|@vite|@id|@fs|@react-refresh|node_modules|__vite)/.test(u.pathname);
    } catch { return false; }
  }
  function failed(method, url, status, why) {
    if (!own(url)) return;
    const where = local(url);
    preview.error(status ? `${method} ${where} answered ${status}` : `${method} ${where} failed: ${why}`, where);
  }
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = input instanceof Request ? input.url : String(input);
    const method = String((init && init.method) || (input instanceof Request ? input.method : "GET")).toUpperCase();
    return fetch.apply(this, arguments).then((response) => {
      if (response.status >= 500) failed(method, url, response.status);
      return response;
    }, (error) => {
      if (!error || error.name !== "AbortError") failed(method, url, 0, error && error.message);
      throw error;
    });
  };
  const { open, send } = XMLHttpRequest.prototype;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__mgx = [String(method).toUpperCase(), String(url)];
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    const [method, url] = this.__mgx || ["GET", ""];
    this.addEventListener("loadend", () => { if (this.status >= 500) failed(method, url, this.status); });
    this.addEventListener("error", () => failed(method, url, 0, "network error"));
    return send.apply(this, arguments);
  };

  // Select: MGX's page turns it on and off; a pick, or Escape here, turns it off.
  let selecting = false, box = null, cursor = null, hovered = null;
  function outline(element) {
    hovered = element;
    if (!box) {
      box = document.createElement("div");
      box.setAttribute("data-mgx-select", "");
      box.style.cssText = "position:fixed;z-index:2147483647;pointer-events:none;box-sizing:border-box;"
        + "border:2px solid #6d5dfc;background:rgba(109,93,252,.12);border-radius:3px;transition:all 60ms";
      const label = document.createElement("span");
      label.style.cssText = "position:absolute;left:-2px;bottom:100%;margin-bottom:2px;padding:1px 6px;border-radius:3px;"
        + "background:#6d5dfc;color:#fff;font:600 11px/16px system-ui,sans-serif;white-space:nowrap";
      box.append(label);
      document.documentElement.append(box);
    }
    const r = element.getBoundingClientRect();
    Object.assign(box.style, { left: `${r.left}px`, top: `${r.top}px`, width: `${r.width}px`, height: `${r.height}px` });
    box.firstChild.textContent = element.tagName.toLowerCase();
    box.firstChild.style.bottom = r.top < 20 ? "auto" : "100%";
  }
  const swallow = (event) => { event.preventDefault(); event.stopImmediatePropagation(); };
  const handlers = {
    mouseover(event) { if (event.target instanceof Element && event.target !== box) outline(event.target); },
    click(event) {
      swallow(event);
      const element = event.target instanceof Element ? event.target : hovered;
      if (element) post({ type: "pick", ...reference(element) });
      select(false, true);
    },
    keydown(event) { if (event.key === "Escape") { swallow(event); select(false, true); } },
    mousedown: swallow, mouseup: swallow, pointerdown: swallow, pointerup: swallow, submit: swallow, dblclick: swallow,
  };
  function select(on, tell) {
    if (on === selecting) return;
    selecting = on;
    for (const [name, handler] of Object.entries(handlers)) {
      if (on) window.addEventListener(name, handler, true); else window.removeEventListener(name, handler, true);
    }
    if (on) {
      cursor = document.createElement("style");
      cursor.textContent = "*, *::before, *::after { cursor: crosshair !important; }";
      document.documentElement.append(cursor);
    } else {
      cursor?.remove();
      box?.remove();
      cursor = box = null;
    }
    if (tell) post({ type: "select", on });
  }
  window.addEventListener("message", (event) => {
    if (event.origin !== mgx || event.source !== window.parent) return; // only MGX's page that frames this one
    const data = event.data;
    if (data && data.mgx === "studio" && data.type === "select") select(data.on === true, false);
  });
  post({ type: "hello" });
  return preview;
}

const IDLE = { active: false, error() {}, updating() {}, settled() {} };

function cut(text, n) { text = String(text ?? ""); return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

function local(url) {
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.pathname + u.search.replace(/[?&]t=\d+/, "") : u.href;
  } catch { return String(url); }
}

// What names the element for the team: its tag, its text, where it is written, a CSS path.
function reference(element) {
  const marked = element.closest("[data-mgx-src]");
  const text = element.innerText || element.value || element.getAttribute("aria-label")
    || element.getAttribute("alt") || element.getAttribute("placeholder") || element.getAttribute("title") || "";
  return {
    tag: element.tagName.toLowerCase(),
    text: cut(String(text).replace(/\s+/g, " ").trim(), 80),
    source: marked ? marked.getAttribute("data-mgx-src") : "",
    path: cssPath(element),
  };
}

function cssPath(element) {
  const parts = [];
  for (let n = element; n && n.parentElement && n !== document.body && parts.length < 5; n = n.parentElement) {
    let part = n.tagName.toLowerCase();
    if (n.id && /^[A-Za-z][\w-]*$/.test(n.id)) { parts.unshift(`${part}#${n.id}`); break; }
    const classes = [...n.classList].filter((c) => /^[A-Za-z][\w-]{0,30}$/.test(c)).slice(0, 2);
    if (classes.length) part += `.${classes.join(".")}`;
    const same = [...n.parentElement.children].filter((c) => c.tagName === n.tagName);
    if (same.length > 1) part += `:nth-of-type(${same.indexOf(n) + 1})`;
    parts.unshift(part);
  }
  return parts.join(" > ");
}
