// The Prod tab's build output grows while the build runs: `build.log` events carry new lines,
// appended here (the panel itself re-renders only when a build or release changes status).
(function () {
  "use strict";
  document.body.addEventListener("mgx:build-log", (ev) => {
    const pre = document.getElementById("build-log");
    if (!pre || !ev.detail || String(ev.detail.build) !== pre.dataset.build) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(document.createTextNode(ev.detail.lines.join("\n") + "\n"));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
})();
