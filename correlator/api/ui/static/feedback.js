// Verdict buttons: POST the verdict as JSON to the feedback API (same origin, the UI cookie),
// then reload so the server renders the verdict in force. "Wrong" first asks for the real cause.
// No framework; nothing from the server is inserted as HTML.
(function () {
  "use strict";
  var section = document.getElementById("verdict");
  var form = document.getElementById("verdict-form");
  if (!section || !form || !window.fetch) { return; }
  var url = section.getAttribute("data-feedback-url");
  var cause = document.getElementById("real-cause");
  var error = document.getElementById("verdict-error");

  function value(name) {
    var el = form.elements.namedItem(name);
    var v = el && typeof el.value === "string" ? el.value.trim() : "";
    return v || null;
  }

  function send(body) {
    error.hidden = true;
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Correlator-Client": "ui" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      window.location.reload();
    }).catch(function (e) {
      error.textContent = "Could not save the verdict: " + e.message;
      error.hidden = false;
    });
  }

  form.addEventListener("click", function (ev) {
    var target = ev.target;
    if (!(target instanceof HTMLButtonElement)) { return; }
    var verdict = target.getAttribute("data-verdict");
    if (verdict === "wrong") {
      cause.hidden = false;
      return;
    }
    if (verdict) {
      send({ verdict: verdict, by: value("by") });
      return;
    }
    if (target.id === "verdict-save-wrong") {
      var rc = { service: value("service"), fault_type: value("fault_type"), change: value("change") };
      var any = rc.service || rc.fault_type || rc.change;
      send({ verdict: "wrong", by: value("by"), note: value("note"), root_cause: any ? rc : null });
    }
  });
})();
