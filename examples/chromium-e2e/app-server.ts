/**
 * The site's own application server, as a web developer writes it: it serves the page and the
 * service worker, keeps the subscriptions the page posts, and sends notifications with `web-push`.
 * It knows nothing of push-agent; the end-to-end test starts it beside the browser.
 *
 * One honest detail: web-push's `sendNotification` always speaks TLS (it calls https.request), so
 * it reaches Mozilla's, Google's and Apple's https endpoints but not the plain-http endpoints of a
 * local test push server. For those the server builds the very same request with web-push's
 * `generateRequestDetails` and sends it with fetch (push-agent's `sendPush` does exactly that).
 */

import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import webpush from "web-push";

const SITE = new URL("./site/", import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/sw.js": { file: "sw.js", type: "text/javascript" },
};

export interface Notice {
  title: string;
  body: string;
  tag?: string;
}

export interface AppServer {
  /** http://127.0.0.1:port, the site's origin. */
  origin: string;
  /** The site's VAPID keys and contact: what its pushes are signed with. */
  vapidDetails: { subject: string; publicKey: string; privateKey: string };
  /** The subscriptions pages posted to /subscribe. */
  readonly subscriptions: webpush.PushSubscription[];
  /** Resolves once `count` subscriptions arrived; rejects after `timeout` ms. */
  waitForSubscriptions(count: number, timeout?: number): Promise<webpush.PushSubscription[]>;
  /** Send a notice to every subscriber; the push services' status codes, in order. */
  notifyAll(notice: Notice): Promise<number[]>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0: a free port). */
export async function startAppServer(port = 0): Promise<AppServer> {
  const vapidDetails = { subject: "mailto:news@example.com", ...webpush.generateVAPIDKeys() };
  const subscriptions: webpush.PushSubscription[] = [];
  const waiters = new Set<() => void>();
  let app: AppServer | undefined;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const file =
      request.method === "GET" ? FILES[new URL(request.url ?? "/", "http://x").pathname] : undefined;
    if (file) {
      response.writeHead(200, { "content-type": file.type, "cache-control": "no-store" });
      response.end(await readFile(new URL(file.file, SITE)));
    } else if (request.method === "GET" && request.url === "/vapid-public-key") {
      response.writeHead(200, { "content-type": "text/plain" }).end(vapidDetails.publicKey);
    } else if (request.method === "POST" && request.url === "/subscribe") {
      let body = "";
      for await (const chunk of request) body += chunk;
      subscriptions.push(JSON.parse(body) as webpush.PushSubscription);
      response.writeHead(204).end();
      for (const waiter of [...waiters]) waiter();
    } else if (request.method === "POST" && request.url === "/notify" && app) {
      // The site's "send a notification" button, for the walkthrough by hand (loopback only).
      let body = "";
      for await (const chunk of request) body += chunk;
      const statuses = await app.notifyAll(JSON.parse(body) as Notice);
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(statuses));
    } else {
      response.writeHead(404).end();
    }
  };
  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(400).end());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = async (subscription: webpush.PushSubscription, notice: Notice): Promise<number> => {
    const options = { vapidDetails, TTL: 60 };
    const payload = JSON.stringify(notice);
    if (subscription.endpoint.startsWith("https:")) {
      return (await webpush.sendNotification(subscription, payload, options)).statusCode;
    }
    const details = webpush.generateRequestDetails(subscription, payload, options);
    const response = await fetch(details.endpoint, {
      method: details.method,
      headers: details.headers as Record<string, string>,
      body: details.body ? new Uint8Array(details.body) : null,
    });
    return response.status;
  };

  app = {
    origin,
    vapidDetails,
    subscriptions,
    waitForSubscriptions(count, timeout = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (subscriptions.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(subscriptions.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${count} subscription(s); have ${subscriptions.length}`));
        }, timeout);
        waiters.add(check);
        check();
      });
    },
    notifyAll: (notice) => Promise.all(subscriptions.map((subscription) => send(subscription, notice))),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const site = await startAppServer(Number(process.env.PORT ?? 5173));
  console.log(
    `the site: ${site.origin}/   send: curl -X POST ${site.origin}/notify -d '{"title":"Hi","body":"there"}'`,
  );
}
