// PickMyClass: local times and the dashboard's live updates. Every page
// works without it; with it, times show in the reader's time zone and
// dashboard cards change in place when a check finds a change.
(function () {
  "use strict";

  // localTimes rewrites <time datetime> elements under root in local time;
  // the server's UTC text stays in the title.
  function localTimes(root) {
    var els = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute("datetime"));
      if (isNaN(d.getTime())) { continue; }
      if (!els[i].title) { els[i].title = els[i].textContent; }
      els[i].textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  }
  localTimes(document);

  var cards = document.querySelector("[data-live]");
  if (!cards || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  function say(text) { if (status) { status.textContent = text; } }

  // recount refreshes the Open and Full figures from the cards shown.
  function recount() {
    var counts = { open: "count-open", full: "count-full" };
    Object.keys(counts).forEach(function (st) {
      var el = document.getElementById(counts[st]);
      if (el) { el.textContent = String(cards.querySelectorAll(".card.status-" + st).length); }
    });
  }

  var es = new EventSource(cards.getAttribute("data-live"));
  es.onopen = function () { say("Live"); };
  es.onerror = function () { say("Reconnecting…"); };
  es.addEventListener("watch", function (ev) {
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    var old = document.getElementById("watch-" + msg.id);
    if (!old) { return; }
    var tpl = document.createElement("template");
    tpl.innerHTML = msg.html.trim();
    var fresh = tpl.content.firstElementChild;
    if (!fresh) { return; }
    fresh.classList.add("updated");
    localTimes(fresh);
    old.replaceWith(fresh);
    recount();
    say("Live · updated " + new Date().toLocaleTimeString(undefined, { timeStyle: "short" }));
  });
})();
