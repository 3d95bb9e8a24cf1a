// The Files tab: open a file from the tree into CodeMirror, save with Ctrl/Cmd+S through the
// JSON API, and when the file changed underneath (409) show both versions side by side so
// nothing anyone wrote is lost. A JSON file (package.json …) that does not parse is not saved
// without asking: the parse error with its line and column, and "Save anyway".
(function () {
  "use strict";

  // JSON files, and which of them are JSONC (comments and trailing commas allowed: tsconfig,
  // jsconfig, VS Code's and dev containers' settings, *.jsonc).
  function isJson(path) { return /\.jsonc?$/i.test(path); }
  function isJsonc(path) {
    const name = path.split("/").pop();
    return /\.jsonc$/i.test(name) || /^(ts|js)config(\..+)?\.json$/i.test(name) || /(^|\/)\.(vscode|devcontainer)\//.test(path) ||
      name === "devcontainer.json";
  }
  // Comments and trailing commas blanked out (same length, newlines kept), so an error's
  // position is still the position in the file.
  function blankJsonc(text) {
    let out = "", i = 0;
    const n = text.length;
    while (i < n) {
      const c = text[i];
      if (c === '"') {
        let j = i + 1;
        while (j < n && text[j] !== '"' && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
        out += text.slice(i, j + 1); i = j + 1;
      } else if (c === "/" && text[i + 1] === "/") {
        let j = i; while (j < n && text[j] !== "\n") j++;
        out += " ".repeat(j - i); i = j;
      } else if (c === "/" && text[i + 1] === "*") {
        let j = text.indexOf("*/", i + 2); j = j < 0 ? n : j + 2;
        out += text.slice(i, j).replace(/[^\n]/g, " "); i = j;
      } else if (c === ",") {
        let j = i + 1; while (j < n && /\s/.test(text[j])) j++;
        out += (text[j] === "}" || text[j] === "]") ? " " : ","; i++;
      } else { out += c; i++; }
    }
    return out;
  }
  // null when `text` parses; else {message, line, column} (1-based).
  function jsonProblem(path, text) {
    if (!isJson(path)) return null;
    try { JSON.parse(isJsonc(path) ? blankJsonc(text) : text); return null; } catch (err) {
      const said = String(err && err.message || err);
      const at = /position (\d+)/.exec(said);
      const lc = /line (\d+) column (\d+)/.exec(said);
      let line = 1, column = 1;
      if (lc) { line = +lc[1]; column = +lc[2]; } else {
        const pos = at ? +at[1] : text.length; // "Unexpected end of JSON input": at the end
        const before = text.slice(0, pos).split("\n");
        line = before.length; column = before[before.length - 1].length + 1;
      }
      const message = said.replace(/^JSON\.parse: /, "").replace(/ in JSON at position \d+.*$/, "")
        .replace(/ \(line \d+ column \d+\)$/, "").replace(/ at line \d+ column \d+ of the JSON data$/, "");
      return { message: message, line: line, column: column };
    }
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function init(root) {
    if (!root || root.dataset.ready) return;
    root.dataset.ready = "1";
    const api = root.dataset.api;
    const downloadUrl = root.dataset.download;
    const $ = (id) => root.querySelector("#" + id);
    const els = {
      crumbs: $("crumbs"), dirty: $("dirty"), state: $("save-state"), save: $("save-btn"),
      empty: $("editor-empty"), notice: $("editor-notice"), editor: $("editor"),
      conflict: $("conflict"), conflictMsg: $("conflict-msg"), merge: $("merge"),
      keep: $("conflict-keep"), theirs: $("conflict-theirs"),
      json: $("json-check"), jsonMsg: $("json-check-msg"), jsonAnyway: $("json-save-anyway"), jsonEdit: $("json-keep-editing"),
    };
    let editor = null, merge = null, current = null; // current = {path, version}

    function show(which) {
      els.empty.hidden = which !== "empty";
      els.notice.hidden = which !== "notice";
      els.editor.hidden = which !== "editor";
    }
    function setState(text, kind) {
      els.state.textContent = text || "";
      els.state.className = "save-state " + (kind === "error" ? "bad" : kind === "ok" ? "ok" : "muted");
    }
    function setDirty(dirty) {
      els.dirty.hidden = !dirty;
      els.save.disabled = !dirty;
      root.classList.toggle("is-dirty", dirty);
    }
    function crumbs(path) {
      els.crumbs.replaceChildren();
      const parts = path.split("/");
      parts.forEach((part, i) => {
        if (i) { const sep = document.createElement("span"); sep.className = "crumb-sep"; sep.textContent = "/"; els.crumbs.append(sep); }
        const span = document.createElement("span");
        span.className = i === parts.length - 1 ? "crumb crumb-file" : "crumb";
        span.textContent = part;
        els.crumbs.append(span);
      });
    }
    function markActive(path) {
      root.querySelectorAll(".file-link").forEach((a) => a.classList.toggle("active", a.dataset.path === path));
    }
    function hideJsonProblem() { els.json.hidden = true; }
    function showJsonProblem(problem) {
      els.jsonMsg.textContent = current.path + " is not valid JSON: " + problem.message + " (line " + problem.line +
        ", column " + problem.column + "). Fix it, or save it as it is.";
      els.json.hidden = false;
    }
    function closeConflict() {
      if (merge) { merge.destroy(); merge = null; }
      els.conflict.hidden = true;
    }
    // The API's one error shape: {"error": {"code", "message", "fields"}}.
    function errorText(body) { return body && body.error ? body.error.message : ""; }
    function urlFor(path) { return api + "?path=" + encodeURIComponent(path); }

    async function open(path, { push = true } = {}) {
      if (editor && editor.isDirty() && current && current.path !== path &&
          !confirm("Discard your unsaved changes to " + current.path + "?")) return;
      closeConflict();
      hideJsonProblem();
      setState("Opening…");
      const res = await fetch(urlFor(path), { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const body = await res.json().catch(() => ({ error: { message: "The server sent an unreadable answer." } }));
      crumbs(path);
      markActive(path);
      if (push) history.replaceState(null, "", "?tab=files&path=" + encodeURIComponent(path));
      const dl = downloadUrl + "?path=" + encodeURIComponent(path);
      if (!res.ok || body.binary) {
        current = null;
        setDirty(false);
        els.notice.replaceChildren();
        const p = document.createElement("p");
        p.textContent = body.binary ? "Binary file · " + body.size.toLocaleString() + " bytes — not shown in the editor." : errorText(body);
        const a = document.createElement("a");
        a.className = "btn btn-sm"; a.href = dl; a.textContent = "Download";
        els.notice.append(p, a);
        els.notice.classList.toggle("notice-error", !body.binary);
        show("notice");
        setState("");
        return;
      }
      current = { path: path, version: body.version };
      if (!editor) {
        editor = MGXEditor.create(els.editor, { doc: body.content, path: path, onSave: () => save(),
          onChange: (dirty) => { setDirty(dirty); hideJsonProblem(); } });
      } else {
        editor.setLanguage(path);
        editor.setValue(body.content);
      }
      setDirty(false);
      show("editor");
      setState("Version " + body.version.slice(0, 8));
      editor.focus();
    }

    async function put(content, version) {
      const res = await fetch(urlFor(current.path), {
        method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ content: content, version: version }),
      });
      const body = await res.json().catch(() => ({ error: { message: "The server sent an unreadable answer (HTTP " + res.status + ")." } }));
      return { res, body };
    }

    async function save({ anyway = false } = {}) {
      if (!editor || !current) return;
      const mine = editor.getValue();
      const problem = anyway ? null : jsonProblem(current.path, mine);
      if (problem) {
        showJsonProblem(problem);
        setState("Not saved: not valid JSON.", "error");
        return;
      }
      hideJsonProblem();
      setState("Saving…");
      els.save.disabled = true;
      const { res, body } = await put(mine, current.version);
      if (res.ok) {
        current.version = body.version;
        editor.markClean();
        setDirty(editor.isDirty());
        setState("Saved · version " + body.version.slice(0, 8), "ok");
      } else if (res.status === 409) {
        showConflict(body, mine);
      } else {
        setDirty(true);
        setState(errorText(body) || "Not saved (HTTP " + res.status + ").", "error");
      }
    }

    function showConflict(body, mine) {
      const theirs = body.current;
      els.conflictMsg.textContent = errorText(body) + " Left: what is on disk now. Right: yours — merge here, then save.";
      closeConflict();
      els.conflict.hidden = false;
      merge = MGXEditor.createMergeView(els.merge, { original: theirs ? theirs.content || "" : "", modified: mine, path: current.path });
      current.conflictVersion = theirs ? theirs.version : "";
      current.theirs = theirs ? theirs.content || "" : "";
      setDirty(true);
      setState("Not saved: the file changed on disk.", "error");
    }

    els.keep.addEventListener("click", async () => {
      const merged = merge.getModified();
      const { res, body } = await put(merged, current.conflictVersion);
      if (res.ok) {
        closeConflict();
        editor.setValue(merged);
        current.version = body.version;
        setDirty(false);
        setState("Saved your version · " + body.version.slice(0, 8), "ok");
      } else if (res.status === 409) {
        showConflict(body, merged);
      } else {
        setState(errorText(body) || "Not saved.", "error");
      }
    });
    els.theirs.addEventListener("click", () => {
      editor.setValue(current.theirs);
      current.version = current.conflictVersion;
      closeConflict();
      setDirty(false);
      setState("Loaded the version on disk.");
    });
    els.save.addEventListener("click", () => save());
    els.jsonAnyway.addEventListener("click", () => save({ anyway: true }));
    els.jsonEdit.addEventListener("click", () => { hideJsonProblem(); setState(""); editor && editor.focus(); });

    root.addEventListener("click", (ev) => {
      const link = ev.target.closest(".file-link");
      if (!link || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
      ev.preventDefault();
      open(link.dataset.path);
    });
    // Re-mark the open file after the tree is re-rendered by a create/rename/delete.
    root.addEventListener("htmx:afterSwap", () => current && markActive(current.path));

    document.addEventListener("keydown", (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s" && document.body.contains(root)) {
        ev.preventDefault();
        if (editor && current && !els.save.disabled) save();
      }
    });
    window.addEventListener("beforeunload", (ev) => {
      if (document.body.contains(root) && editor && editor.isDirty()) { ev.preventDefault(); ev.returnValue = ""; }
    });

    if (root.dataset.open) open(root.dataset.open, { push: false });
  }

  function scan() { init(document.getElementById("files")); }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
