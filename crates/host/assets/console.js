// gongjian console: live updates. The signed-in person's event stream (/console/live) says
// when something they follow changed and when a notification reached them. A page whose
// content can change while it is open marks it with data-live: its main part is fetched again
// and swapped in place by htmx, so an offer appears without a reload (a refresh waits while
// the person is typing). The navigation's badge counts the notifications that arrive.
(function () {
  "use strict";
  var notices = document.querySelector('.tabs a[href="/console/notifications"]');
  var live = document.querySelector("[data-live]");
  if ((!live && !notices) || !window.EventSource) { return; }
  var main = document.getElementById("main");
  var waiting = false;
  function typing() {
    var a = document.activeElement;
    return a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== "submit";
  }
  function refresh() {
    if (!document.querySelector("[data-live]")) { return; }
    if (typing()) { waiting = true; return; }
    waiting = false;
    if (!window.htmx) { window.location.reload(); return; }
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#main", select: "#main", swap: "outerHTML"
    }).then(function () { main = document.getElementById("main"); });
  }
  function counted() {
    if (!notices) { return; }
    var count = notices.querySelector("[data-unread] [data-count]");
    if (!count) {
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.setAttribute("data-unread", "");
      count = document.createElement("span");
      count.setAttribute("data-count", "");
      count.textContent = "0";
      badge.appendChild(count);
      notices.appendChild(document.createTextNode(" "));
      notices.appendChild(badge);
    }
    if (count.textContent.indexOf("+") < 0) {
      var n = (parseInt(count.textContent, 10) || 0) + 1;
      count.textContent = n >= 100 ? "99+" : String(n);
    }
  }
  document.addEventListener("focusout", function () {
    if (waiting) { setTimeout(function () { if (waiting) { refresh(); } }, 0); }
  });
  var source = new EventSource("/console/live");
  source.addEventListener("change", refresh);
  source.addEventListener("notification", function () { counted(); refresh(); });
  source.addEventListener("digest", refresh);
})();
