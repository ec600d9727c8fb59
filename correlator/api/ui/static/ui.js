// Live stage timeline: follows the investigation's server-sent events and updates the list.
// No framework; text is inserted with textContent only (never innerHTML).
(function () {
  "use strict";
  var section = document.getElementById("stages");
  if (!section || !window.EventSource) { return; }
  if (section.getAttribute("data-finished") === "true") { return; }
  var url = section.getAttribute("data-events-url");
  var timeline = document.getElementById("timeline");
  var live = document.getElementById("live-state");
  var statusBadge = document.getElementById("inv-status");

  function item(key) {
    var found = timeline.querySelector('li[data-stage="' + CSS.escape(key) + '"]');
    if (found) { return found; }
    var li = document.createElement("li");
    li.setAttribute("data-stage", key);
    li.className = "stage";
    timeline.appendChild(li);
    return li;
  }

  function show(key, status, detail) {
    var li = item(key);
    li.className = "stage st-" + String(status).replace(/[^a-z_]/gi, "");
    li.textContent = "";
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = key;
    var st = document.createElement("span");
    st.className = "status";
    st.textContent = " " + status;
    li.appendChild(name);
    li.appendChild(st);
    if (detail) {
      var d = document.createElement("span");
      d.className = "ms";
      d.textContent = " " + detail;
      li.appendChild(d);
    }
    li.classList.add("fresh");
  }

  function data(ev) {
    try { return JSON.parse(ev.data); } catch (e) { return {}; }
  }

  var source = new EventSource(url);
  if (live) { live.textContent = "live"; }
  source.addEventListener("started", function (ev) {
    var d = data(ev);
    if (statusBadge) { statusBadge.textContent = "running"; statusBadge.className = "badge st-running"; }
    show("started", "attempt " + (d.attempt || 1), "");
  });
  source.addEventListener("stage", function (ev) {
    var d = data(ev);
    var ms = typeof d.elapsed_ms === "number" ? d.elapsed_ms.toFixed(1) + " ms" : "";
    show(d.name || "stage", d.status || "ok", ms + (d.detail ? " " + d.detail : ""));
  });
  source.addEventListener("llm.stage", function (ev) {
    var d = data(ev);
    show("llm." + (d.stage || "?"), d.status || "", "");
  });
  source.addEventListener("alert_resolved", function () {
    var b = document.getElementById("alert-status");
    if (b) { b.textContent = "resolved"; b.className = "badge alert-resolved"; }
  });
  source.addEventListener("finished", function (ev) {
    var d = data(ev);
    if (statusBadge) { statusBadge.textContent = d.status || "done"; statusBadge.className = "badge st-" + (d.status || "done"); }
    if (live) { live.textContent = "finished"; }
    var banner = document.getElementById("finished-banner");
    if (banner) { banner.hidden = false; }
    source.close();
  });
  source.onerror = function () {
    if (live && source.readyState === EventSource.CLOSED) { live.textContent = "disconnected"; }
  };
})();
