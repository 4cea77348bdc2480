// The navigator's console (CSP: script-src 'self', no library). Each action form is
// posted with fetch; the server answers with the command's result URL at once, which is
// polled until the listener has judged the action from Asterisk's events (a presence
// change on Twilio only is done at once: its answer is the result). The page's
// live part is fetched again every few seconds and swapped (the server renders it in
// the user's language), except while an action is in flight.
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) { return; }
  var REFRESH_MS = 3000;
  var POLL_MS = 300;
  var POLL_LIMIT_MS = 20000;
  var busy = false;
  var result = document.getElementById("console-result");

  function show(text, state) {
    result.hidden = false;
    result.textContent = text;
    result.className = "flash" + (state === "ok" ? " flash-ok" : state === "pending" ? "" : " flash-error");
  }

  function refresh() {
    if (busy) { return Promise.resolve(); }
    return fetch(root.dataset.stateUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status !== 200) {
          window.location.reload();
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (busy) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("console-live");
        var old = document.getElementById("console-live");
        var open = document.getElementById("console-more");
        var wasOpen = open && open.open;
        if (fresh && old) {
          old.replaceWith(fresh);
          var more = document.getElementById("console-more");
          if (more && wasOpen) { more.open = true; }
        }
      })
      .catch(function () { /* keep what is shown; try again */ });
  }

  function poll(url, started) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        show(data.message, data.state);
        if (data.finished) { return data; }
        if (Date.now() - started > POLL_LIMIT_MS) { return data; }
        return new Promise(function (resolve) { window.setTimeout(resolve, POLL_MS); })
          .then(function () { return poll(url, started); });
      });
  }

  root.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("cmd")) { return; }
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    show(form.querySelector("button").textContent.trim() + " …", "pending");
    // getAttribute: a field named "action" (the presence forms) hides form.action.
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    })
      .then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      })
      .then(function (answer) {
        if (answer.status === 200 && answer.data.finished) {
          show(answer.data.message, answer.data.state);  // done at once (presence on Twilio)
          return null;
        }
        if (answer.status !== 202) { show(answer.data.message, "error"); return null; }
        show(answer.data.message, "pending");
        return poll(answer.data.result_url, Date.now());
      })
      .catch(function () { show(result.dataset.failed || "…", "error"); })
      .then(function () { busy = false; return refresh(); });
  });

  if (root.dataset.pending) {
    busy = true;
    poll(root.dataset.pending, Date.now())
      .catch(function () { /* the page shows the state anyway */ })
      .then(function () { busy = false; return refresh(); });
  }
  window.setInterval(refresh, REFRESH_MS);
})();
