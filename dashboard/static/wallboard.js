// The wallboard (CSP: script-src 'self', no library). It asks the server for the state
// every second (one short GET: see dashboard/wallboard.py for why a poll and not a
// server-sent-events stream) and writes the answer into the page with textContent.
// The server sends every text already in the user's language. When the server stops
// answering for a few seconds, the page clears its figures and says so: a screen read
// from across the room must never show old numbers as if they were live.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  if (!root) { return; }
  var POLL_MS = Number(root.dataset.pollMs) || 1000;
  var STALE_MS = Number(root.dataset.staleMs) || 5000;
  var TIMEOUT_MS = Math.min(STALE_MS, 4000);
  var lastOk = Date.now();
  var status = document.getElementById("wb-status");
  var NONE = "–";

  function field(name) { return root.querySelector("[data-field=" + name + "]"); }

  function setText(node, text) {
    if (node && node.textContent !== text) { node.textContent = text; }
  }

  function setFields(values) {
    Object.keys(values).forEach(function (name) { setText(field(name), values[name]); });
  }

  function setStatus(text, live) {
    setText(status, text);
    status.className = "wb-status " + (live ? "is-live" : "is-down");
    root.classList.toggle("is-unknown", !live);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function callers(list) {
    var ol = document.getElementById("wb-callers");
    var items = list.map(function (c) {
      var li = element("li");
      li.appendChild(element("span", "wb-wait", c.wait_text));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(element("span", "wb-lang", c.language_text));
      return li;
    });
    ol.replaceChildren.apply(ol, items);
  }

  function navigators(list) {
    var body = document.querySelector("#wb-navigators tbody");
    var rows = list.map(function (m) {
      var tr = element("tr", "is-" + m.state);
      tr.appendChild(element("td", "", m.name));
      tr.appendChild(element("td", "", m.reason ? m.state_text + " (" + m.reason + ")" : m.state_text));
      tr.appendChild(element("td", "", m.for_text));
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function clear() {
    setFields({
      waiting: NONE, longest: NONE, available: NONE, on_call: NONE, after_call_work: NONE,
      paused: NONE,
      received: NONE, answered: NONE, abandoned: NONE, service_level: NONE
    });
    callers([]);
    navigators([]);
  }

  function show(data) {
    setText(document.getElementById("wb-updated"), data.updated_text);
    setStatus(data.message, data.current);
    if (!data.current || !data.waiting || !data.navigators || !data.today) {
      clear();
      return;
    }
    var w = data.waiting, n = data.navigators, t = data.today;
    setFields({
      waiting: String(w.count), longest: w.longest_text,
      available: String(n.available), on_call: String(n.on_call),
      after_call_work: String(n.after_call_work), paused: String(n.paused),
      received: String(t.received), answered: String(t.answered),
      abandoned: String(t.abandoned), service_level: t.service_level_text
    });
    callers(w.callers);
    navigators(n.members);
  }

  function checkStale() {
    if (Date.now() - lastOk > STALE_MS) {
      setStatus(root.dataset.textStale, false);
      clear();
    }
  }

  function poll() {
    var controller = new AbortController();
    var timer = window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    fetch(root.dataset.stateUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" },
      signal: controller.signal
    })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // the session ended, or the role changed: show why
          throw new Error("status " + response.status);
        }
        if (response.status !== 200) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (data) { lastOk = Date.now(); show(data); })
      .catch(function () { checkStale(); })
      .then(function () {
        window.clearTimeout(timer);
        window.setTimeout(poll, POLL_MS);
      });
  }

  window.setInterval(checkStale, 1000);
  window.setTimeout(poll, POLL_MS);
})();
