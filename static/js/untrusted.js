// Text that an app, its code, its owner or the model controls, where MGX shows it as HTML: the
// model's markdown in the chat. Everything else untrusted is set with textContent (chat.js,
// logs.js, prod.js, session-files.js) or escaped by Django's templates; nothing else may use
// innerHTML.
//
// What becomes HTML here
// - is parsed by marked and cleaned by a DOMPurify instance of its own (hooks on the global one
//   would reach anything else that uses it): no script, form controls, style, frames; no id,
//   name or class (they could clobber MGX's own elements or dress up as its buttons and cards);
//   no data-* at all, and — named as well, whatever else the config allows one day — no hx-*,
//   data-hx-* or hx-on* attribute, which htmx would act on with the page's CSRF header;
// - goes into the page as the sanitizer's DOM nodes, never re-parsed from a string;
// - lands only in an element marked hx-disable, so htmx processes none of it: not on a swap,
//   not on htmx.process(), not when a page comes back from history (base.html: no history cache).
(function () {
  "use strict";

  const HTMX_ATTRIBUTE = /^(data-)?hx-/i;
  const CONFIG = {
    USE_PROFILES: { html: true },
    ALLOW_DATA_ATTR: false,
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "iframe", "frame", "object", "embed", "dialog"],
    FORBID_ATTR: ["style", "id", "name", "class", "form", "formaction", "autofocus", "tabindex", "popover", "popovertarget"],
    RETURN_DOM_FRAGMENT: true,
  };

  let purify = null;
  function sanitizer() {
    if (purify || !window.DOMPurify) return purify;
    purify = window.DOMPurify(window);
    purify.addHook("uponSanitizeAttribute", (node, data) => {
      if (HTMX_ATTRIBUTE.test(data.attrName)) {
        data.keepAttr = false;
        data.forceKeepAttr = undefined;
      }
    });
    // Links open in a new tab and cannot reach back into this page.
    purify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A" && node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
    return purify;
  }

  // htmx leaves the element and everything in it alone (htmx.config.disableSelector).
  function fence(el) {
    el.setAttribute("hx-disable", "");
    return el;
  }

  // Markdown as clean DOM nodes, or null when marked or DOMPurify did not load.
  function markdown(text) {
    const clean = sanitizer();
    if (!clean || !window.marked) return null;
    const html = window.marked.parse(String(text), { gfm: true, breaks: true, async: false });
    return clean.sanitize(html, CONFIG);
  }

  // Replace el's content with `text` rendered as markdown; plain text if the renderer is missing,
  // never raw HTML.
  function setMarkdown(el, text) {
    fence(el);
    const nodes = markdown(text);
    if (nodes === null) el.textContent = String(text);
    else el.replaceChildren(nodes);
  }

  window.MGXUntrusted = Object.freeze({ fence, markdown, setMarkdown });
})();
