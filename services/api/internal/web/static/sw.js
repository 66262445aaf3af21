// PickMyClass service worker: shows seat alerts pushed by the server (the
// payload is a JSON {title, body, url, tag}) and opens the alert's link
// when one is clicked.
"use strict";

self.addEventListener("push", function (event) {
  var msg = { title: "PickMyClass", body: "A class you watch changed." };
  if (event.data) {
    try { msg = event.data.json(); } catch (e) { msg.body = event.data.text(); }
  }
  event.waitUntil(self.registration.showNotification(msg.title || "PickMyClass", {
    body: msg.body || "",
    tag: msg.tag || undefined,
    renotify: Boolean(msg.tag),
    icon: "/static/favicon.svg",
    data: { url: msg.url || "/dashboard" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/dashboard";
  event.waitUntil(self.clients.openWindow(url));
});
