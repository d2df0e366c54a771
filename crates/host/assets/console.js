// gongjian console: live updates. A page whose content can change while it is open marks it
// with data-live; the signed-in person's event stream (/console/live) says when something
// they follow changed, and the page's main part is fetched again and swapped in place by
// htmx, so an offer appears without a reload. A refresh waits while the person is typing.
(function () {
  "use strict";
  if (!document.querySelector("[data-live]") || !window.EventSource) { return; }
  var main = document.getElementById("main");
  var waiting = false;
  function typing() {
    var a = document.activeElement;
    return a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== "submit";
  }
  function refresh() {
    if (typing()) { waiting = true; return; }
    waiting = false;
    if (!window.htmx) { window.location.reload(); return; }
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#main", select: "#main", swap: "outerHTML"
    }).then(function () { main = document.getElementById("main"); });
  }
  document.addEventListener("focusout", function () {
    if (waiting) { setTimeout(function () { if (waiting) { refresh(); } }, 0); }
  });
  var source = new EventSource("/console/live");
  source.addEventListener("change", refresh);
})();
