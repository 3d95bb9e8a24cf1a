// MGX editor bundle entry point.
//
// Built by ../build.mjs into static/vendor/codemirror/mgx-editor.js as a
// single minified IIFE that exposes `window.MGXEditor`. Do not edit the
// built file by hand; edit this file and rebuild (see ../README.md).

import { basicSetup } from "codemirror";
import { EditorState, Compartment, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { json } from "@codemirror/lang-json";
import { css } from "@codemirror/lang-css";
import { html } from "@codemirror/lang-html";
import { markdown } from "@codemirror/lang-markdown";
import { MergeView } from "@codemirror/merge";

const VERSION = "1.0.0";

// ---------------------------------------------------------------------------
// Language selection by file extension
// ---------------------------------------------------------------------------

function extensionOf(path) {
  const name = String(path || "").split(/[\\/]/).pop().toLowerCase();
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1) : "";
}

// Returns a short language name ("typescript", "python", ..., or "text").
function languageNameForPath(path) {
  switch (extensionOf(path)) {
    case "ts": case "mts": case "cts": return "typescript";
    case "tsx": return "tsx";
    case "js": case "mjs": case "cjs": return "javascript";
    case "jsx": return "jsx";
    case "py": case "pyi": return "python";
    case "json": return "json";
    case "css": return "css";
    case "html": case "htm": return "html";
    case "md": case "markdown": return "markdown";
    default: return "text";
  }
}

// Returns the CodeMirror language extension for a path ([] for plain text).
function languageForPath(path) {
  switch (languageNameForPath(path)) {
    case "typescript": return javascript({ typescript: true });
    case "tsx": return javascript({ typescript: true, jsx: true });
    // JSX is unambiguous in plain JS, so enable it for all JS flavours
    // (React code often lives in .js files). Not for .ts: `<T>x` casts.
    case "javascript": return javascript({ jsx: true });
    case "jsx": return javascript({ jsx: true });
    case "python": return python();
    case "json": return json();
    case "css": return css();
    case "html": return html();
    case "markdown": return markdown();
    default: return [];
  }
}

// ---------------------------------------------------------------------------
// Light, neutral theme
// ---------------------------------------------------------------------------

const FONT =
  'ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace';

const mgxTheme = EditorView.theme(
  {
    "&": {
      height: "100%",
      fontSize: "13px",
      color: "#1f2328",
      backgroundColor: "#ffffff",
    },
    "&.cm-focused": { outline: "none" },
    ".cm-scroller": { overflow: "auto", fontFamily: FONT, lineHeight: "1.5" },
    ".cm-content": { caretColor: "#1f2328", padding: "4px 0" },
    ".cm-cursor, .cm-dropCursor": { borderLeftColor: "#1f2328" },
    "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection":
      { backgroundColor: "#cfe3ff" },
    ".cm-activeLine": { backgroundColor: "#f6f8fa" },
    ".cm-gutters": {
      backgroundColor: "#fafafa",
      color: "#8c959f",
      borderRight: "1px solid #e5e7eb",
    },
    ".cm-activeLineGutter": { backgroundColor: "#f0f2f4", color: "#57606a" },
    ".cm-lineNumbers .cm-gutterElement": { padding: "0 8px 0 12px" },
    ".cm-foldPlaceholder": {
      backgroundColor: "#eef0f2",
      border: "1px solid #d0d7de",
      color: "#57606a",
    },
    "&.cm-focused .cm-matchingBracket": { backgroundColor: "#dbeafe", outline: "1px solid #93c5fd" },
    "&.cm-focused .cm-nonmatchingBracket": { backgroundColor: "#fee2e2" },
    ".cm-searchMatch": { backgroundColor: "#fff3bf", outline: "1px solid #f2cc60" },
    ".cm-searchMatch.cm-searchMatch-selected": { backgroundColor: "#ffd8a8" },
    ".cm-selectionMatch": { backgroundColor: "#e6f0ff" },
    ".cm-panels": { backgroundColor: "#f6f8fa", color: "#1f2328" },
    ".cm-panels.cm-panels-top": { borderBottom: "1px solid #e5e7eb" },
    ".cm-panels.cm-panels-bottom": { borderTop: "1px solid #e5e7eb" },
    ".cm-tooltip": {
      backgroundColor: "#ffffff",
      border: "1px solid #d0d7de",
      borderRadius: "4px",
      boxShadow: "0 4px 12px rgba(0,0,0,.08)",
    },
  },
  { dark: false }
);

const mgxHighlight = HighlightStyle.define([
  { tag: [t.comment, t.lineComment, t.blockComment, t.docComment], color: "#6e7781", fontStyle: "italic" },
  { tag: [t.keyword, t.controlKeyword, t.moduleKeyword, t.operatorKeyword, t.definitionKeyword], color: "#cf222e" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "#0a3069" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "#0550ae" },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: "#8250df" },
  { tag: [t.definition(t.variableName), t.definition(t.propertyName)], color: "#953800" },
  { tag: [t.typeName, t.className, t.namespace], color: "#953800" },
  { tag: [t.propertyName], color: "#0550ae" },
  { tag: [t.tagName, t.angleBracket], color: "#116329" },
  { tag: [t.attributeName], color: "#0550ae" },
  { tag: [t.attributeValue], color: "#0a3069" },
  { tag: [t.meta, t.annotation, t.processingInstruction], color: "#6e7781" },
  { tag: [t.self, t.special(t.variableName)], color: "#cf222e" },
  { tag: t.heading, color: "#0550ae", fontWeight: "bold" },
  { tag: t.strong, fontWeight: "bold" },
  { tag: t.emphasis, fontStyle: "italic" },
  { tag: t.strikethrough, textDecoration: "line-through" },
  { tag: [t.link, t.url], color: "#0a3069", textDecoration: "underline" },
  { tag: t.monospace, color: "#0a3069" },
  { tag: t.invalid, color: "#82071e" },
]);

const themeExtensions = [mgxTheme, syntaxHighlighting(mgxHighlight)];

// ---------------------------------------------------------------------------
// Single editor
// ---------------------------------------------------------------------------

/**
 * create(parent, {doc, path, readOnly, onChange, onSave}) -> editor handle
 *
 *   doc       initial text (string, default "")
 *   path      file path, used only to pick the language by extension
 *   readOnly  boolean (default false)
 *   onChange  function(dirty: boolean) called whenever the dirty state flips
 *   onSave    function(text: string) called on Mod-s (Ctrl-S / Cmd-S)
 */
function create(parent, opts = {}) {
  if (!parent) throw new Error("MGXEditor.create: parent element is required");
  const onChange = typeof opts.onChange === "function" ? opts.onChange : null;
  const onSave = typeof opts.onSave === "function" ? opts.onSave : null;
  let path = opts.path || "";
  let readOnly = !!opts.readOnly;

  const languageConf = new Compartment();
  const readOnlyConf = new Compartment();

  let cleanDoc = null; // Text of the last clean (saved/loaded) content
  let dirty = false;

  function updateDirty(state) {
    const now = !state.doc.eq(cleanDoc);
    if (now !== dirty) {
      dirty = now;
      if (onChange) {
        try { onChange(dirty); } catch (e) { console.error(e); }
      }
    }
  }

  const saveKeymap = Prec.highest(
    keymap.of([
      {
        key: "Mod-s",
        preventDefault: true,
        run(view) {
          if (onSave && !readOnly) onSave(view.state.doc.toString());
          return true; // always swallow, so the browser save dialog never shows
        },
      },
    ])
  );

  function makeState(text) {
    return EditorState.create({
      doc: text,
      extensions: [
        saveKeymap,
        basicSetup,
        keymap.of([indentWithTab]),
        themeExtensions,
        languageConf.of(languageForPath(path)),
        readOnlyConf.of(EditorState.readOnly.of(readOnly)),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) updateDirty(u.state);
        }),
      ],
    });
  }

  const view = new EditorView({ state: makeState(String(opts.doc ?? "")), parent });
  cleanDoc = view.state.doc;

  return {
    view,
    /** Current document text. */
    getValue() {
      return view.state.doc.toString();
    },
    /** Replace the whole document (fresh undo history) and mark it clean. */
    setValue(text) {
      view.setState(makeState(String(text ?? "")));
      cleanDoc = view.state.doc;
      updateDirty(view.state);
    },
    /** Switch syntax highlighting to match a (new) file path. */
    setLanguage(newPath) {
      path = newPath || "";
      view.dispatch({ effects: languageConf.reconfigure(languageForPath(path)) });
    },
    /** Toggle read-only mode. */
    setReadOnly(value) {
      readOnly = !!value;
      view.dispatch({ effects: readOnlyConf.reconfigure(EditorState.readOnly.of(readOnly)) });
    },
    focus() {
      view.focus();
    },
    destroy() {
      view.destroy();
    },
    /** Mark the current content as clean (e.g. after a successful save). */
    markClean() {
      cleanDoc = view.state.doc;
      updateDirty(view.state);
    },
    isDirty() {
      return dirty;
    },
  };
}

// ---------------------------------------------------------------------------
// Merge (conflict) view
// ---------------------------------------------------------------------------

/**
 * createMergeView(parent, {original, modified, path, labels}) -> handle
 *
 *   original  text currently on disk ("theirs"), shown read-only on the left
 *   modified  the user's text ("yours"), editable on the right
 *   path      file path for syntax highlighting
 *   labels    optional {a, b} header captions; pass labels:false to hide
 */
function createMergeView(parent, opts = {}) {
  if (!parent) throw new Error("MGXEditor.createMergeView: parent element is required");
  const lang = languageForPath(opts.path || "");
  const labels =
    opts.labels === false
      ? null
      : Object.assign({ a: "On disk (theirs, newer)", b: "Yours (editable)" }, opts.labels || {});

  const wrap = document.createElement("div");
  wrap.className = "mgx-merge";
  wrap.style.cssText = "display:flex;flex-direction:column;height:100%;min-height:0;";

  if (labels) {
    const head = document.createElement("div");
    head.className = "mgx-merge-labels";
    head.style.cssText =
      "display:flex;flex:none;font:600 12px system-ui,sans-serif;color:#57606a;" +
      "background:#f6f8fa;border-bottom:1px solid #e5e7eb;";
    for (const [cls, text] of [["mgx-merge-label-a", labels.a], ["mgx-merge-label-b", labels.b]]) {
      const el = document.createElement("div");
      el.className = cls;
      el.textContent = text;
      el.style.cssText = "flex:1 1 0;padding:4px 10px;";
      head.appendChild(el);
    }
    wrap.appendChild(head);
  }

  const body = document.createElement("div");
  body.className = "mgx-merge-body";
  body.style.cssText = "flex:1 1 auto;min-height:0;";
  wrap.appendChild(body);
  parent.appendChild(wrap);

  const mv = new MergeView({
    a: {
      doc: String(opts.original ?? ""),
      extensions: [basicSetup, themeExtensions, lang, EditorState.readOnly.of(true)],
    },
    b: {
      doc: String(opts.modified ?? ""),
      extensions: [basicSetup, keymap.of([indentWithTab]), themeExtensions, lang],
    },
    parent: body,
    orientation: "a-b",
    revertControls: "a-to-b", // arrows copy a chunk from disk into "yours"
    highlightChanges: true,
    gutter: true,
  });
  mv.dom.style.height = "100%";
  mv.dom.style.overflow = "auto";

  return {
    view: mv,
    /** The (possibly edited) "yours" text. */
    getModified() {
      return mv.b.state.doc.toString();
    },
    /** The on-disk ("theirs") text. */
    getOriginal() {
      return mv.a.state.doc.toString();
    },
    destroy() {
      mv.destroy();
      wrap.remove();
    },
  };
}

const MGXEditor = { version: VERSION, create, createMergeView, languageNameForPath };

if (typeof window !== "undefined") window.MGXEditor = MGXEditor;

export { create, createMergeView, languageNameForPath, VERSION as version };
