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

// Running builds show how long they have run ("Building… 1:12"): every element with a start time
// counts up from it, in the Prod tab, the session's header and the dashboard.
(function () {
  "use strict";
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach((el) => {
      const since = Date.parse(el.dataset.since);
      if (!isNaN(since)) el.textContent = clock((now - since) / 1000);
    });
    document.querySelectorAll(".duration[data-seconds]").forEach((el) => {
      if (!el.dataset.shown) { el.textContent = clock(Number(el.dataset.seconds)); el.dataset.shown = "1"; }
    });
  }
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
})();
