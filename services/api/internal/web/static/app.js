// PickMyClass: the dashboard's live updates. The page works without it;
// with it, cards change in place when a check finds a change.
(function () {
  "use strict";
  var cards = document.querySelector("[data-live]");
  if (!cards || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  function say(text) { if (status) { status.textContent = text; } }
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
    old.replaceWith(fresh);
    say("Live · updated " + new Date().toLocaleTimeString());
  });
})();
