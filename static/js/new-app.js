// New app: the address field's placeholder follows the name as it is typed, so what "left empty,
// made from the name" means is in front of the person (the server makes it the same way:
// studio.services.slug_suggest).
(function () {
  "use strict";
  const name = document.querySelector('form input[name="name"]');
  const slug = document.querySelector('form input[name="slug"]');
  if (!name || !slug) return;
  const initial = slug.getAttribute("placeholder") || "";
  function suggest(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9\s-]/g, "").trim().replace(/[\s_-]+/g, "-").slice(0, 40).replace(/^-+|-+$/g, "");
  }
  function follow() { slug.setAttribute("placeholder", suggest(name.value) || initial); }
  name.addEventListener("input", follow);
  follow();
})();
