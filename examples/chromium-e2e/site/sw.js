// The site's service worker: shows each push as a notification and tells its open pages.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  const message = event.data ? event.data.json() : { title: "News", body: "(no data)" };
  const shown = { title: message.title, body: message.body, trusted: event.isTrusted };
  event.waitUntil(
    Promise.all([
      self.registration.showNotification(message.title, { body: message.body, tag: message.tag }),
      self.clients.matchAll({ includeUncontrolled: true }).then((clients) => {
        for (const client of clients) client.postMessage(shown);
      }),
    ]),
  );
});
