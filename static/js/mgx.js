// Small behaviours every page may use, kept out of the HTML: MGX's Content-Security-Policy runs
// no inline script (script-src 'self'), so no onsubmit=, onchange= or hx-on attributes.
(function () {
  "use strict";

  // <form data-confirm="Question?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <input type="file" data-autosubmit>: choosing a file submits its form.
  document.addEventListener("change", function (event) {
    const input = event.target;
    if (input instanceof HTMLInputElement && "autosubmit" in input.dataset && input.form) input.form.requestSubmit();
  });

  // Session tabs: the tab whose content was just loaded becomes the active one.
  document.addEventListener("htmx:afterRequest", function (event) {
    const tab = event.target;
    if (!(tab instanceof Element) || !tab.matches(".tabs .tab")) return;
    document.querySelectorAll(".tabs .tab").forEach(function (t) {
      t.classList.toggle("active", t === tab);
      t.toggleAttribute("aria-current", t === tab);
    });
  });
})();
