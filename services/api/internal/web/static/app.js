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

  // recount refreshes the Open and Full figures from the cards shown: a
  // card's data-seats is its seats' state, empty once enrollment closed.
  function recount() {
    var counts = { open: "count-open", full: "count-full" };
    Object.keys(counts).forEach(function (st) {
      var el = document.getElementById(counts[st]);
      if (el) { el.textContent = String(cards.querySelectorAll('.card[data-seats="' + st + '"]').length); }
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

// Browser push: the settings page's button registers the service worker,
// subscribes with the server's VAPID key and stores the subscription.
(function () {
  "use strict";
  var btn = document.getElementById("push-subscribe");
  if (!btn) { return; }
  var status = document.getElementById("push-status");
  function say(text) { if (status) { status.textContent = text; } }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.Notification) {
    say("This browser does not support push alerts.");
    return;
  }
  btn.hidden = false;
  say("");

  // key decodes the base64url VAPID public key for PushManager.subscribe.
  function key(b64) {
    var s = (b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  // activated resolves once the registration's worker is active, which
  // subscribing needs. The worker's scope is /static/, so it never sees the
  // app's own requests, and navigator.serviceWorker.ready (which waits for
  // a worker controlling this page) would never resolve.
  function activated(reg) {
    if (reg.active) { return Promise.resolve(reg); }
    var w = reg.installing || reg.waiting;
    return new Promise(function (resolve, reject) {
      w.addEventListener("statechange", function () {
        if (w.state === "activated") { resolve(reg); }
        if (w.state === "redundant") { reject(new Error("The service worker did not start.")); }
      });
    });
  }

  btn.addEventListener("click", function () {
    btn.disabled = true;
    say("Asking for permission…");
    Notification.requestPermission().then(function (perm) {
      if (perm !== "granted") { throw new Error("Notifications are blocked for this site in your browser settings."); }
      say("Subscribing…");
      return navigator.serviceWorker.register("/static/sw.js");
    }).then(activated).then(function (reg) {
      return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(btn.getAttribute("data-vapid-key")) });
    }).then(function (sub) {
      var body = sub.toJSON();
      body.label = navigator.userAgent.indexOf("Mobile") >= 0 ? "phone" : "browser";
      return fetch("/api/channels/push", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": btn.getAttribute("data-csrf") },
        body: JSON.stringify(body)
      });
    }).then(function (resp) {
      if (!resp.ok) { throw new Error("The server refused the subscription (" + resp.status + ")."); }
      window.location.assign("/settings?m=push-added#channels");
    }).catch(function (err) {
      btn.disabled = false;
      say(err && err.message ? err.message : "Could not turn on browser push.");
    });
  });
})();
