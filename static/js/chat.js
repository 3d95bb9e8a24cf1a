// The Chat tab: the agent team's events, streamed over a websocket and drawn as a conversation.
//
// Every event carries a per-session sequence number. The socket is opened with
// ?after=<last seq seen>, so a reconnect replays exactly what was missed, and an event at or below
// the last seq is dropped, so nothing is ever drawn twice. Each DOM element an event touched lists
// that seq in data-seqs (tests count them).
//
// The model's text is markdown, rendered by untrusted.js (marked, then DOMPurify with no htmx
// attribute left, inserted as nodes). Everything else (user text, tool output, paths) is set with
// textContent. The whole log is hx-disable (agents/chat.html): htmx acts on nothing in it, so the
// file links are opened from here.
//
// Events are grouped per run (.chat-run): the user's message, the roles' turns with their
// messages, tool rows, file links and interrupt cards, then the run's footer (status, summary,
// usage). The page renders no events itself; it gives a snapshot of the latest runs (#chat-runs)
// so totals are not counted twice and an answered approval stays answered after a reload.
(function () {
  "use strict";

  const ROLES = {
    team_leader: ["Team leader", "TL"], product_manager: ["Product manager", "PM"],
    architect: ["Architect", "AR"], engineer: ["Engineer", "EN"], qa: ["QA", "QA"],
  };
  const STATUS = {
    done: "Done", rejected: "Rejected", cancelled: "Cancelled", budget: "Budget reached",
    steps: "Step limit reached", loop: "Stopped: repeating itself", no_llm: "Scaffold only · no model",
  };
  const OPEN_TYPES = ["USER_MESSAGE", "AGENT_START", "MESSAGE_DELTA", "TOOL_START", "TOOL_END", "FILE_CHANGED", "USAGE"];
  const SETTLED = ["done", "failed", "cancelled"]; // run statuses that will send nothing more

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }
  function roleName(role) { return (ROLES[role] || [String(role || "agent").replace(/_/g, " ")])[0]; }
  function avatar(role) {
    const known = ROLES[role];
    const el = h("span", "role-avatar role-" + (known ? role : "other"), known ? known[1] : String(role || "?").slice(0, 2).toUpperCase());
    el.setAttribute("aria-hidden", "true");
    return el;
  }
  function num(n) { return Number(n || 0).toLocaleString("en-US"); }
  function money(c) { c = Number(c || 0); return "$" + (c >= 1 ? c.toFixed(2) : c.toFixed(4)); }
  function plural(n, word) { return num(n) + " " + word + (Number(n) === 1 ? "" : "s"); }
  function clock(at) {
    if (!at) return "";
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(at) ? at : at + "Z"); // stored in UTC
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function cut(text, n) { text = String(text); return text.length > n ? text.slice(0, n - 1) + "…" : text; }
  function pretty(args) {
    if (args == null) return "";
    if (typeof args === "string") return args;
    try { return JSON.stringify(args, null, 2); } catch (e) { return String(args); }
  }
  function argSummary(tool, args) {
    if (!args || typeof args !== "object") return args ? cut(args, 140) : "";
    for (const key of ["command", "path", "query", "pattern", "question", "url"]) {
      if (typeof args[key] === "string" && args[key]) return cut(args[key].replace(/\s+/g, " "), 140);
    }
    const first = Object.values(args).find((v) => typeof v === "string" && v);
    return first ? cut(first.replace(/\s+/g, " "), 140) : cut(JSON.stringify(args), 140);
  }
  function stamp(el, seq) { el.dataset.seqs = el.dataset.seqs ? el.dataset.seqs + " " + seq : String(seq); }

  function setMarkdown(el, text) {
    if (window.MGXUntrusted) window.MGXUntrusted.setMarkdown(el, text);
    else el.textContent = text; // the script did not load: plain text, never HTML
  }

  function Chat(root) {
    const $ = (id) => root.querySelector("#" + id);
    const els = {
      scroll: $("chat-scroll"), log: $("chat-log"), jump: $("chat-jump"), form: $("chat-form"),
      text: $("chat-text"), send: $("chat-send-btn"), cancel: $("chat-cancel-btn"),
      status: $("chat-status"), usage: $("chat-usage"), conn: $("chat-conn"),
    };
    // The server renders these URLs ({% url %}) with RUN_ID where the run's id goes.
    const runUrl = (which, run) => root.dataset[which].replace("RUN_ID", encodeURIComponent(run));
    const me = root.dataset.user || "you";

    // A page restored from HTMX's history cache carries the old drawing: start clean, the
    // socket replays it all.
    els.log.querySelectorAll(".chat-run, .chat-typing").forEach((n) => n.remove());
    root.classList.remove("has-events");

    let lastSeq = 0, ws = null, delay = 500, timer = null, watchdog = null, destroyed = false, refusedWith = "";
    let running = "", stick = true, turn = null, lastMsg = null, seenSnapshotRun = false;
    const runs = new Map(), messages = new Map(), tools = new Map(), interrupts = new Map();
    const dirty = new Set();

    // What the page knew when it was rendered: the latest runs' states and totals.
    const snapshot = new Map();
    root.querySelectorAll("#chat-runs li").forEach((li) => {
      snapshot.set(li.dataset.run, {
        status: li.dataset.status, in: Number(li.dataset.in || 0), out: Number(li.dataset.out || 0), cost: Number(li.dataset.cost || 0),
      });
    });
    const decisions = new Map(); // call_id -> {approved, command, answer} posted from this page
    const app = {
      in: Number(els.usage.dataset.in || 0), out: Number(els.usage.dataset.out || 0),
      cost: Number(els.usage.dataset.cost || 0), calls: Number(els.usage.dataset.calls || 0),
    };

    const typing = h("div", "chat-typing");
    typing.hidden = true;
    typing.setAttribute("aria-hidden", "true");
    const typingAvatar = h("span", "role-avatar role-team_leader", "TL");
    const typingText = h("span", null, "The team is working");
    const dots = h("span", "typing-dots");
    dots.append(h("i"), h("i"), h("i"));
    typing.append(typingAvatar, typingText, dots);
    els.log.append(typing);

    // ------------------------------------------------------------------ drawing helpers
    function runFor(id) {
      id = id || "";
      let run = runs.get(id);
      if (run) return run;
      const el = h("div", "chat-run");
      el.dataset.run = id;
      const foot = h("div", "run-foot");
      foot.hidden = true;
      const summary = h("div", "run-summary");
      summary.hidden = true;
      const usage = h("div", "run-usage");
      usage.hidden = true;
      foot.append(summary, usage);
      el.append(foot);
      els.log.insertBefore(el, typing);
      const snap = snapshot.get(id);
      run = {
        id, el, foot, summary, usage, finished: false,
        settled: !!(snap && SETTLED.includes(snap.status)), // over when the page was rendered
        // A run the page did not know about is new if it came after the runs it did know.
        fresh: !snap && (seenSnapshotRun || snapshot.size === 0),
        totals: { in: 0, out: 0, cost: 0, calls: 0 }, models: new Set(),
      };
      runs.set(id, run);
      return run;
    }
    function put(run, node) { run.el.insertBefore(node, run.foot); }
    function newTurn(run, role, at) {
      const el = h("div", "turn");
      el.dataset.role = role;
      const body = h("div", "turn-body");
      const head = h("div", "turn-head");
      head.append(h("span", "turn-role", roleName(role)));
      const time = clock(at);
      if (time) head.append(h("time", "turn-time", time));
      body.append(head);
      el.append(avatar(role), body);
      put(run, el);
      turn = { run: run.id, role, el, body, empty: true };
      return turn;
    }
    function turnFor(run, role, at) {
      role = role || (turn && turn.run === run.id ? turn.role : "team_leader");
      if (turn && turn.run === run.id && turn.role === role) return turn;
      return newTurn(run, role, at);
    }
    function placeIn(run) { return turn && turn.run === run.id ? turn.body : null; }
    function add(run, node) {
      const body = placeIn(run);
      if (body) { body.append(node); turn.empty = false; } else put(run, node);
    }

    // Markdown is re-rendered and the list scrolled once per frame, not once per event: a replay
    // of thousands of events must not lay the page out thousands of times.
    function schedule() {
      if (schedule.pending) return;
      schedule.pending = true;
      const go = () => { schedule.pending = false; flush(); };
      if (document.hidden) setTimeout(go, 60); else requestAnimationFrame(go);
    }
    function flush() {
      dirty.forEach((msg) => setMarkdown(msg.el, msg.text));
      dirty.clear();
      follow();
    }

    // Keep the newest line in view unless the reader scrolled up to read something older.
    function nearBottom() { return els.scroll.scrollHeight - els.scroll.scrollTop - els.scroll.clientHeight < 60; }
    function follow() {
      if (stick) els.scroll.scrollTop = els.scroll.scrollHeight;
      else els.jump.hidden = false;
    }
    els.scroll.addEventListener("scroll", () => {
      stick = nearBottom();
      if (stick) els.jump.hidden = true;
    });
    els.jump.addEventListener("click", () => {
      stick = true;
      els.jump.hidden = true;
      els.scroll.scrollTo({ top: els.scroll.scrollHeight, behavior: "smooth" });
    });

    function setStatus(text, isError) {
      els.status.textContent = text || "";
      els.status.hidden = !text;
      els.status.classList.toggle("is-error", !!isError);
    }
    // A run is going (composer off, Cancel on) or waiting at an interrupt (the card above is the
    // way forward; Cancel drops the run).
    const placeholder = els.text.getAttribute("placeholder");
    // No model configured: the composer stays off (the notice above says who sets one); a run
    // already going (the app's first message) still shows, and Cancel still works.
    const noModel = root.dataset.nomodel === "1";
    function setRunning(id, waiting) {
      running = id || "";
      root.dataset.running = running;
      root.dataset.mode = running ? (waiting ? "waiting" : "running") : "";
      els.text.disabled = !!running || noModel;
      els.send.disabled = noModel;
      els.text.setAttribute("placeholder", !running ? placeholder : waiting
        ? "Answer the card above to go on, or cancel the run."
        : "The team is working… you can write again when it finishes.");
      els.send.hidden = !!running;
      els.cancel.hidden = !running;
      els.cancel.disabled = false;
      typing.hidden = !running || !!waiting;
      if (!running && !noModel && document.activeElement === document.body && document.body.contains(root)) els.text.focus({ preventScroll: true });
    }
    function setTyping(role) {
      typingAvatar.className = "role-avatar role-" + (ROLES[role] ? role : "other");
      typingAvatar.textContent = (ROLES[role] || ["", "··"])[1];
      typingText.textContent = roleName(role) + " is working";
    }
    function setConn(state, text) {
      els.conn.dataset.state = state;
      els.conn.querySelector(".chat-conn-text").textContent = text;
    }

    // ------------------------------------------------------------------ usage
    function drawRunUsage(run) {
      const t = run.totals;
      const parts = [num(t.in) + " tokens in", num(t.out) + " out", money(t.cost), plural(t.calls, "model call")];
      if (run.models.size) parts.push(Array.from(run.models).join(", "));
      run.usage.replaceChildren(h("b", null, "Run usage"), document.createTextNode(parts.join(" · ")));
      run.usage.hidden = false;
      run.foot.hidden = false;
    }
    function drawAppUsage() {
      els.usage.textContent = "App total: " + num(app.in) + " tokens in · " + num(app.out) + " out · " + money(app.cost) + " · " + plural(app.calls, "model call");
    }
    function addUsage(run, p) {
      const add = { in: Number(p.prompt_tokens || 0), out: Number(p.completion_tokens || 0), cost: Number(p.cost || 0) };
      const before = Object.assign({}, run.totals);
      run.totals.in += add.in; run.totals.out += add.out; run.totals.cost += add.cost; run.totals.calls += 1;
      if (p.model) run.models.add(p.model);
      drawRunUsage(run);
      // The page's total already holds what its runs had cost when it was rendered: add only
      // what goes beyond that, and all of a run that started later.
      const snap = snapshot.get(run.id);
      if (snap) {
        const grow = (k) => Math.max(0, run.totals[k] - Math.max(before[k], snap[k]));
        const extra = { in: grow("in"), out: grow("out"), cost: grow("cost") };
        app.in += extra.in; app.out += extra.out; app.cost += extra.cost;
        if (run.totals.in + run.totals.out > snap.in + snap.out) app.calls += 1;
      } else if (run.fresh) {
        app.in += add.in; app.out += add.out; app.cost += add.cost; app.calls += 1;
      } else return;
      drawAppUsage();
    }

    // ------------------------------------------------------------------ interrupts
    function decide(card, d, pending) {
      const it = interrupts.get(card.dataset.call);
      if (it) it.decided = !pending;
      const box = card.querySelector(".interrupt-decision");
      box.replaceChildren();
      box.className = "interrupt-decision";
      if (d.skipped) {
        box.append(h("span", null, "Not answered"), h("span", "muted", "· you sent a new message instead"));
      } else if (d.answer) {
        box.classList.add("is-answered");
        box.append(h("span", null, "↩ Answered:"), h("span", "muted", "“" + cut(d.answer, 300) + "”"));
      } else if (d.approved === true) {
        box.classList.add("is-approved");
        box.append(h("span", null, "✓ Approved"));
        const original = it && it.args && typeof it.args.command === "string" ? it.args.command : "";
        if (d.command && d.command !== original) box.append(h("span", "muted", "with the command"), h("code", null, d.command));
      } else if (d.approved === false) {
        box.classList.add("is-rejected");
        box.append(h("span", null, "✕ Rejected"));
      } else {
        box.append(h("span", null, "Resolved"));
      }
      if (pending) box.append(h("span", "muted interrupt-wait", "· sent, waiting for the team…"));
      card.classList.add("is-decided");
      card.dataset.decision = d.skipped ? "skipped" : d.answer ? "answered" : d.approved === true ? "approved" : d.approved === false ? "rejected" : "resolved";
    }
    // The run that resumes an interrupt starts with a USER_MESSAGE carrying the decision
    // (payload.resume): that settles its card, in this browser and any other. Any other later
    // run leaves a card still open unanswered.
    function settleInterrupts(ev) {
      const p = ev.payload || {};
      const resumed = ev.type === "USER_MESSAGE" && p.resume && typeof p.resume === "object" ? p.resume : null;
      let card = null;
      interrupts.forEach((it, callId) => {
        if (it.decided || it.run === ev.run || ev.seq <= it.seq) return;
        if (resumed && resumed.call_id === callId) {
          decide(it.card, { approved: resumed.approved === true || resumed.approved === "1", command: resumed.command || "", answer: resumed.answer || "" }, false);
          card = it.card;
          card.dataset.role = it.role;
        } else if (ev.type === "USER_MESSAGE") {
          decide(it.card, decisions.get(callId) || { skipped: !resumed }, false);
        } else if (decisions.has(callId)) {
          decide(it.card, decisions.get(callId), false);
        }
      });
      return card;
    }
    async function resume(it, body, buttons, errorBox) {
      buttons.forEach((b) => { b.disabled = true; });
      errorBox.textContent = "";
      const form = new FormData();
      Object.entries(body).forEach(([k, v]) => form.append(k, v));
      let res, data = {};
      try {
        res = await fetch(runUrl("resume", it.run), {
          method: "POST", body: form, credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        });
        data = await res.json().catch(() => ({}));
      } catch (e) {
        res = null;
      }
      if (!res || res.status !== 202) {
        buttons.forEach((b) => { b.disabled = false; });
        errorBox.textContent = !res ? "Could not reach MGX. Try again." : data.error || "The decision was not accepted (HTTP " + res.status + ").";
        return;
      }
      const d = { approved: body.approved === "1", command: body.command || "", answer: body.answer || "" };
      decisions.set(it.callId, d);
      it.card.dataset.posted = String(res.status);
      if (!it.decided) decide(it.card, d, true); // the resume run's first event may have come first
      if (data.run && !(runs.get(data.run) || {}).finished) setRunning(data.run);
    }
    function interruptCard(run, ev) {
      const p = ev.payload || {};
      const args = p.args && typeof p.args === "object" ? p.args : {};
      const kind = p.kind === "question" ? "question" : "approval";
      const role = p.role || (turn && turn.run === run.id ? turn.role : "");
      const card = h("div", "interrupt");
      card.dataset.call = p.call_id || "";
      card.dataset.kind = kind;
      const head = h("div", "interrupt-head");
      head.append(h("span", "badge", kind === "question" ? "Question" : "Approval needed"));
      if (kind === "question") head.append(h("span", null, (role ? roleName(role) : "The team") + " asks you"));
      else {
        head.append(h("span", null, (role ? roleName(role) : "The team") + " wants to use"), h("code", null, p.tool || "a tool"));
      }
      card.append(head);
      const question = kind === "question" ? (args.question || p.reason || "") : "";
      if (p.reason && p.reason !== question) card.append(h("p", "interrupt-reason", p.reason));
      const form = h("div", "interrupt-form");
      const errorBox = h("div", "interrupt-error");
      errorBox.setAttribute("role", "alert");
      const it = { card, run: ev.run || "", seq: ev.seq, callId: p.call_id || "", kind, tool: p.tool, args, role, decided: false };
      if (kind === "question") {
        if (question) form.append(h("p", "interrupt-question", question));
        const label = h("label");
        label.append(h("span", null, "Your answer"));
        const answer = h("textarea");
        answer.name = "answer";
        answer.rows = 2;
        label.append(answer);
        const actions = h("div", "interrupt-actions");
        const sendBtn = h("button", "btn btn-primary btn-sm", "Send answer");
        sendBtn.type = "button";
        actions.append(sendBtn);
        form.append(label, actions, errorBox);
        const submit = () => {
          if (!answer.value.trim()) { answer.focus(); return; }
          resume(it, { call_id: it.callId, approved: "1", answer: answer.value.trim() }, [sendBtn], errorBox);
        };
        sendBtn.addEventListener("click", submit);
        answer.addEventListener("keydown", (e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
        });
      } else {
        let command = null;
        if (p.tool === "run_command" && typeof args.command === "string") {
          const label = h("label");
          label.append(h("span", null, "Command (you can edit it before approving)"));
          command = h("input", "mono");
          command.name = "command";
          command.value = args.command;
          command.spellcheck = false;
          label.append(command);
          form.append(label);
          const rest = Object.assign({}, args);
          delete rest.command;
          if (Object.keys(rest).length) form.append(h("pre", null, pretty(rest)));
        } else if (Object.keys(args).length) {
          form.append(h("pre", null, pretty(args)));
        }
        const actions = h("div", "interrupt-actions");
        const approve = h("button", "btn btn-primary btn-sm", "Approve");
        approve.type = "button";
        approve.dataset.decision = "approve";
        const reject = h("button", "btn btn-danger btn-sm", "Reject");
        reject.type = "button";
        reject.dataset.decision = "reject";
        actions.append(approve, reject);
        form.append(actions, errorBox);
        approve.addEventListener("click", () => {
          const body = { call_id: it.callId, approved: "1" };
          if (command) {
            if (!command.value.trim()) { command.focus(); return; }
            body.command = command.value.trim();
          }
          resume(it, body, [approve, reject], errorBox);
        });
        reject.addEventListener("click", () => resume(it, { call_id: it.callId, approved: "0" }, [approve, reject], errorBox));
      }
      card.append(form, h("div", "interrupt-decision"));
      interrupts.set(it.callId, it);
      return card;
    }

    // ------------------------------------------------------------------ one event
    function handle(ev) {
      const seq = Number(ev.seq);
      if (!(seq > lastSeq)) return; // seen already: a replay overlapping what we have
      lastSeq = seq;
      root.classList.add("has-events");
      const p = ev.payload || {};
      if (snapshot.has(ev.run || "")) seenSnapshotRun = true;
      const run = runFor(ev.run);
      const settled = settleInterrupts(ev);
      if (lastMsg && !(ev.type === "MESSAGE_DELTA" && messages.get(p.message_id) === lastMsg)) {
        lastMsg.el.classList.remove("is-streaming");
        lastMsg = null;
      }
      let el;
      switch (ev.type) {
        case "USER_MESSAGE": {
          turn = null;
          setTyping("team_leader");
          if (settled) { // an answer to a card: the card says it, and this run goes on from there
            el = settled;
            run.el.classList.add("is-resume");
            if (settled.dataset.role) setTyping(settled.dataset.role);
            break;
          }
          el = h("div", "msg-user");
          el.append(h("span", "msg-user-name", (p.user || me) + (clock(ev.at) ? " · " + clock(ev.at) : "")));
          if (p.report && typeof p.report === "object") {
            // "Fix it": MGX wrote this message; a compact card, the whole report folded away.
            const card = h("div", "report-card");
            card.append(h("strong", "report-title", "Error report: " + String(p.report.title || "")));
            if (p.report.where) card.append(h("span", "report-where", "in " + String(p.report.where)));
            const more = h("details", "report-text");
            more.append(h("summary", null, "What the team was sent"), h("pre", null, p.text || ""));
            card.append(more);
            el.classList.add("msg-report");
            el.append(card);
          } else {
            el.append(h("div", "msg-user-text", p.text || ""));
          }
          put(run, el);
          break;
        }
        case "AGENT_START": {
          const t = turn && turn.run === run.id && turn.role === p.role && turn.empty ? turn : newTurn(run, p.role, ev.at);
          el = t.el;
          setTyping(p.role);
          break;
        }
        case "MESSAGE_DELTA": {
          let msg = messages.get(p.message_id);
          if (!msg) {
            const t = turnFor(run, p.role, ev.at);
            msg = { el: h("div", "md is-streaming"), text: "" };
            msg.el.dataset.message = p.message_id || "";
            t.body.append(msg.el);
            t.empty = false;
            messages.set(p.message_id, msg);
          }
          msg.text += p.text || "";
          lastMsg = msg;
          dirty.add(msg);
          el = msg.el;
          break;
        }
        case "TOOL_START": {
          el = toolRow(run, p, ev.at);
          if (p.role) setTyping(p.role);
          break;
        }
        case "TOOL_END": {
          el = tools.get(p.call_id) || toolRow(run, p, ev.at);
          const ok = p.ok !== false;
          el.classList.remove("is-running");
          el.classList.add(ok ? "is-ok" : "is-fail");
          el.querySelector(".tool-state").textContent = ok ? "done" : "failed";
          const out = el.querySelector(".tool-output");
          out.textContent = p.output == null || p.output === "" ? "(no output)" : String(p.output);
          out.hidden = false;
          out.previousElementSibling.hidden = false;
          break;
        }
        case "FILE_CHANGED": {
          el = fileRow(p);
          add(run, el);
          break;
        }
        case "INTERRUPT": {
          el = interruptCard(run, ev);
          add(run, el);
          break;
        }
        case "USAGE": {
          addUsage(run, p);
          el = run.usage;
          break;
        }
        case "FINISH": {
          run.finished = true;
          run.summary.replaceChildren();
          const status = p.status || "done";
          run.summary.append(h("span", "run-status status-" + status, STATUS[status] || status));
          // The leader's last message often is the summary: say it once.
          const said = Array.from(run.el.querySelectorAll(".md[data-message]")).pop();
          const last = said ? (messages.get(said.dataset.message) || {}).text || "" : "";
          const repeat = !!p.summary && last.trim() === String(p.summary).trim();
          const md = h("div", "md");
          setMarkdown(md, repeat || !p.summary ? (status === "done" ? "Finished — see the message above." : "See the message above.") : p.summary);
          if (!p.summary && status === "done") md.textContent = "Finished.";
          run.summary.classList.toggle("is-short", repeat || !p.summary);
          run.summary.append(md);
          if (p.commit) {
            const a = h("a", "run-commit", String(p.commit).slice(0, 7));
            a.href = "?tab=history";
            a.title = "This run's changes are saved as version " + p.commit;
            run.summary.append(a);
          }
          run.summary.hidden = false;
          run.foot.hidden = false;
          run.el.dataset.status = status;
          el = run.summary;
          turn = null;
          break;
        }
        case "ERROR": {
          el = h("div", "chat-error");
          el.setAttribute("role", "alert");
          const md = h("div", "md");
          setMarkdown(md, p.message || "Something went wrong."); // may hold a fenced log tail
          el.append(h("strong", null, "The run stopped with an error"), md);
          put(run, el);
          turn = null;
          break;
        }
        default:
          el = run.el;
      }
      stamp(el, seq);

      // One run at a time per app: an event of another run means the one before is over.
      if (running && ev.run && ev.run !== running) setRunning("");
      if (OPEN_TYPES.includes(ev.type) && ev.run && !run.finished && !run.settled) setRunning(ev.run);
      else if (ev.type === "INTERRUPT" && ev.run && !run.finished && !run.settled) setRunning(ev.run, true);
      else if (["FINISH", "ERROR"].includes(ev.type)) {
        run.finished = true; // the runtime reports a crash as ERROR without a FINISH
        if (ev.run === running || !ev.run) setRunning("");
      }
      schedule();
    }

    function toolRow(run, p, at) {
      const t = turnFor(run, p.role, at);
      const row = h("details", "tool-row is-running");
      row.dataset.call = p.call_id || "";
      row.dataset.tool = p.tool || "";
      const summary = h("summary");
      const label = h("span", "tool-label", roleName(t.role).toLowerCase() + " · ");
      label.append(h("b", null, p.tool || "tool"));
      summary.append(label, h("span", "tool-arg", argSummary(p.tool, p.args)), h("span", "tool-state", "running…"));
      const body = h("div", "tool-body");
      if (p.args && (typeof p.args !== "object" || Object.keys(p.args).length)) {
        body.append(h("h4", null, "Arguments"), h("pre", "tool-args", pretty(p.args)));
      }
      const outHead = h("h4", null, "Output");
      const out = h("pre", "tool-output");
      outHead.hidden = out.hidden = true;
      body.append(outHead, out);
      row.append(summary, body);
      t.body.append(row);
      t.empty = false;
      if (p.call_id) tools.set(p.call_id, row);
      return row;
    }
    function fileRow(p) {
      const action = ["created", "edited", "deleted"].includes(p.action) ? p.action : "edited";
      const row = h("div", "file-change action-" + action);
      row.append(h("span", "file-change-icon", action === "created" ? "+" : action === "deleted" ? "−" : "✎"));
      const path = String(p.path || "");
      if (action === "deleted") {
        row.append(h("span", "file-gone", path));
      } else {
        const a = h("a", "chat-file-link", path);
        a.href = root.dataset.files + encodeURIComponent(path);
        a.dataset.path = path;
        a.title = "Open " + path + " in the editor";
        row.append(a);
      }
      row.append(h("span", "file-change-action", action));
      return row;
    }

    // ------------------------------------------------------------------ socket
    function connect() {
      timer = null;
      if (destroyed) return;
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.ws + "?after=" + lastSeq;
      const sock = new WebSocket(url);
      ws = sock;
      // A heartbeat comes every ~20 s; three missed means a dead connection: close, reconnect.
      const alive = (interval) => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => sock.close(), 3 * (interval || 20) * 1000);
      };
      sock.onopen = () => { delay = 500; alive(); setConn("live", "Live"); };
      sock.onmessage = (msg) => {
        let data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        alive(data && data.kind === "heartbeat" && data.data ? data.data.interval : undefined);
        if (data && data.kind === "agent.event" && data.data) handle(data.data);
        // Too many sockets open (MGX_MAX_SOCKETS_PER_USER): say so, and try again later.
        if (data && data.kind === "refused" && data.data) { refusedWith = String(data.data.message || ""); delay = 15000; }
      };
      sock.onclose = (ev) => {
        clearTimeout(watchdog);
        if (ws === sock) ws = null;
        if (destroyed) return;
        if (ev.code === 4403) { setConn("refused", "Not allowed"); return; } // retrying will not help
        if (ev.code === 4429 && refusedWith) setConn("refused", refusedWith);
        else setConn("reconnecting", "Reconnecting…");
        refusedWith = "";
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      };
    }

    // ------------------------------------------------------------------ composer
    function autosize() {
      els.text.style.height = "auto";
      els.text.style.height = Math.min(els.text.scrollHeight + 2, 200) + "px";
    }
    els.text.addEventListener("input", autosize);
    els.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey) {
        e.preventDefault();
        els.form.requestSubmit();
      }
    });
    els.form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (running || noModel || els.send.disabled) return;
      const text = els.text.value.trim();
      if (!text) { els.text.focus(); return; }
      els.send.disabled = true;
      setStatus("");
      let res = null, data = {};
      try {
        res = await fetch(els.form.action, {
          method: "POST", body: new FormData(els.form), credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        });
        data = await res.json().catch(() => ({}));
      } catch (err) { res = null; }
      els.send.disabled = false;
      if (res && res.status === 202) {
        els.text.value = "";
        autosize();
        stick = true;
        if (data.run && !(runs.get(data.run) || {}).finished) setRunning(data.run);
      } else if (!res) {
        setStatus("Could not reach MGX. Your message is still in the box; try again.", true);
      } else if (res.status === 409) {
        setStatus(data.error || "The team is still working on the last message. Wait for it or cancel it.", true);
      } else if (res.status === 400) {
        setStatus(data.error || "Write a message first.", true);
      } else {
        setStatus(data.error || "The message was not accepted (HTTP " + res.status + ").", true);
      }
    });
    els.cancel.addEventListener("click", async () => {
      if (!running) return;
      els.cancel.disabled = true;
      let res = null, data = {};
      try {
        res = await fetch(runUrl("cancel", running), {
          method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        });
        data = await res.json().catch(() => ({}));
      } catch (err) { res = null; }
      if (res && res.ok) {
        setStatus("Run cancelled.");
        setRunning("");
      } else {
        els.cancel.disabled = false;
        setStatus(!res ? "Could not reach MGX to cancel." : data.error || "Could not cancel (HTTP " + res.status + ").", true);
      }
    });
    root.querySelectorAll("[data-suggest]").forEach((chip) => chip.addEventListener("click", () => {
      if (els.text.disabled) return;
      els.text.value = chip.dataset.suggest;
      autosize();
      els.text.focus();
    }));
    // A file link swaps in the Files tab and records the URL, as the tab links do, and moves the
    // tab highlight with it. htmx does not look inside the log (hx-disable), so the request is
    // made from here; without htmx the link loads the page.
    root.addEventListener("click", (e) => {
      const link = e.target.closest(".chat-file-link");
      if (!link || !window.htmx || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.button !== 0) return;
      e.preventDefault();
      const href = link.getAttribute("href");
      window.htmx.ajax("GET", href, { target: "#tab-body", swap: "innerHTML", push: href });
      document.querySelectorAll(".tabs .tab").forEach((t) => {
        const on = t.getAttribute("href") === "?tab=files";
        t.classList.toggle("active", on);
        t.toggleAttribute("aria-current", on);
      });
    });

    setRunning(root.dataset.running || "", root.dataset.mode === "waiting");
    // An element picked with Select on the Dev tab (static/js/preview.js): its reference joins
    // what is already in the box, as text, and the cursor goes after it.
    try {
      const key = "mgx:chat-insert:" + root.dataset.slug;
      const insert = sessionStorage.getItem(key);
      sessionStorage.removeItem(key);
      if (insert) {
        els.text.value = (els.text.value.trim() ? els.text.value.trimEnd() + "\n" : "") + insert + " ";
        autosize();
        els.text.focus({ preventScroll: true });
        els.text.setSelectionRange(els.text.value.length, els.text.value.length);
      }
    } catch (e) { /* no storage: nothing was put there either */ }
    connect();

    return {
      root,
      get lastSeq() { return lastSeq; },
      get socket() { return ws; },
      destroy() {
        destroyed = true;
        if (timer) clearTimeout(timer);
        clearTimeout(watchdog);
        if (ws) ws.close();
      },
    };
  }

  // The chat lives in a tab that HTMX swaps in and out: start it when it appears, close its
  // socket when it is gone. State lives on the element (not in data-*), so a page restored from
  // HTMX's history cache starts afresh.
  let current = null;
  function scan() {
    if (current && !document.body.contains(current.root)) { current.destroy(); current = null; }
    const root = document.getElementById("chat");
    if (root && !root._chat) {
      root._chat = Chat(root);
      current = root._chat;
    }
  }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
  document.addEventListener("htmx:historyRestore", scan);
})();
