// Refreshes the status tiles every 10 s without a library (CSP: script-src 'self').
// The server renders the tiles in the user's language and Québec formats, so the
// script fetches the page again and swaps the tiles instead of formatting anything.
(function () {
  "use strict";
  var root = document.getElementById("status");
  if (!root) { return; }
  var PERIOD_MS = 10000;

  function swap(id, doc) {
    var fresh = doc.getElementById(id);
    var old = document.getElementById(id);
    if (fresh && old) { old.replaceWith(fresh); }
  }

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status !== 200) {
          window.location.reload();  // logged out, or lost the role: show why
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["status", "status-updated", "header-line-state"].forEach(function (id) { swap(id, doc); });
      })
      .catch(function () { /* keep the last tiles; try again later */ })
      .then(function () { window.setTimeout(refresh, PERIOD_MS); });
  }
  window.setTimeout(refresh, PERIOD_MS);
})();
