/**
 * Proxies and private CAs end to end: a PushService and sendPush through real proxies the test
 * starts on 127.0.0.1 (HTTP CONNECT with and without Basic auth, SOCKS5), to a wss:// push server
 * whose certificate comes from a private CA made here. Each case checks the proxy saw the tunnel,
 * and the pushes arrived decrypted; the failures come out typed, naming the proxy, with no
 * credentials in the error or the log.
 */

import { spawn } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createMemoryStorage, openMemoryPushDB } from "../../src/db/memory.ts";
import type { ConnectionErrorEvent } from "../../src/observers.ts";
import { createPushServer, sendPush } from "../../src/server/index.ts";
import { PushService, type PushServiceOptions } from "../../src/service/push-service.ts";
import { ProxyError } from "../../src/transport/failure.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { Inbox } from "../faults/support/local.ts";
import { captureLogger } from "../helpers/logger.ts";
import { startHttpProxy, startSocksProxy } from "../helpers/proxies.ts";
import { privateCaServer } from "./support/fixture.ts";

const SECRET = "s3cr3t-Pa55";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHILD = path.join(ROOT, "test/net/support/env-child.ts");
const fixture = privateCaServer();
const { cleanups, proxy } = fixture;

function service(options: PushServiceOptions) {
  const logger = captureLogger();
  const agent = new PushService({
    serverURL: fixture.server.url,
    db: openMemoryPushDB(createMemoryStorage()),
    logger,
    requestTimeout: 2_000,
    retryBaseInterval: 60_000,
    wakeCheckInterval: 0,
    ...options,
  });
  cleanups.push(() => agent.stop());
  return { agent, logger };
}

/** Subscribe through the service, push through sendPush with the same network options, receive. */
async function roundTrip(options: PushServiceOptions) {
  const { agent } = service(options);
  const inbox = new Inbox(agent);
  await agent.start();
  await agent.ready();
  const subscription = await agent.subscribe({ scope: "https://proxied.example/" });
  const network = {
    proxy: options.proxy ?? false,
    ...(options.noProxy ? { noProxy: options.noProxy } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  };
  const result = await sendPush(
    subscription.toJSON() as Parameters<typeof sendPush>[0],
    "through the proxy",
    {
      TTL: 60,
      ...network,
    },
  );
  expect(result.statusCode).toBe(201);
  await inbox.all(["through the proxy"]);
  return inbox;
}

function firstFailure(agent: PushService): Promise<ConnectionErrorEvent> {
  return new Promise((resolve) => {
    const dispose = agent.observe("connection-error", (event) => {
      dispose();
      resolve(event);
    });
  });
}

describe("a wss:// push server with a private CA", () => {
  it("is refused without the CA, as a tls failure", async () => {
    // `ws` named here: Node 22+'s global WebSocket (the default there until the default becomes
    // `ws` in every Node) reports no cause at all.
    const { agent } = service({ proxy: false, WebSocket: WebSocket as unknown as WebSocketConstructor });
    const failed = firstFailure(agent);
    await agent.start();
    expect((await failed).error.kind).toBe("tls");
  });

  it("is reached directly with tls.ca, WebSocket and sendPush alike", async () => {
    const inbox = await roundTrip({ proxy: false, tls: { ca: fixture.pki.ca } });
    expect(inbox.distinct).toBe(1);
  });
});

describe("an HTTP CONNECT proxy", () => {
  it("carries the WebSocket and the push (no auth)", async () => {
    const http = await proxy(startHttpProxy());
    await roundTrip({ proxy: http.url, tls: { ca: fixture.pki.ca } });
    // One tunnel for the WebSocket, one for the POST to the endpoint, both to the push server.
    expect(http.tunnels.filter((t) => t === fixture.target()).length).toBeGreaterThanOrEqual(2);
  });

  it("with Basic auth: the right credentials pass", async () => {
    const http = await proxy(startHttpProxy({ user: "alice", password: SECRET }));
    await roundTrip({ proxy: http.url, tls: { ca: fixture.pki.ca } });
    expect(http.refusedAuth).toBe(0);
    expect(http.tunnels).toContain(fixture.target());
  });

  it("407 becomes proxy-auth naming the proxy, with no credentials anywhere", async () => {
    const http = await proxy(startHttpProxy({ user: "alice", password: SECRET }));
    const wrong = http.url.replace(SECRET, "wrong-Pa55");
    const { agent, logger } = service({ proxy: wrong, tls: { ca: fixture.pki.ca } });
    const failed = firstFailure(agent);
    await agent.start();
    const { error } = await failed;
    expect(error.kind).toBe("proxy-auth");
    expect(error.status).toBe(407);
    expect(error.message).toContain(`http://***@127.0.0.1:${http.port}`);
    expect(http.refusedAuth).toBeGreaterThan(0);
    // sendPush says the same.
    const thrown = await sendPush({ endpoint: `${fixture.server.endpointURL}/wpush/v2/x` }, null, {
      proxy: wrong,
      tls: { ca: fixture.pki.ca },
    }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ProxyError);
    expect((thrown as ProxyError).failure.kind).toBe("proxy-auth");
    const everything = `${logger.text()}\n${JSON.stringify(error)}\n${String(thrown)}`;
    expect(everything).not.toContain("wrong-Pa55");
    expect(everything).not.toContain("alice");
  });

  it("a refused proxy becomes proxy-refused, not a refusal by the push server", async () => {
    const http = await proxy(startHttpProxy());
    const port = http.port;
    await http.close();
    cleanups.pop();
    const { agent, logger } = service({
      proxy: `http://bob:${SECRET}@127.0.0.1:${port}`,
      tls: { ca: fixture.pki.ca },
    });
    const failed = firstFailure(agent);
    await agent.start();
    const { error } = await failed;
    expect(error.kind).toBe("proxy-refused");
    expect(error.code).toBe("ECONNREFUSED");
    expect(error.message).toBe(`proxy http://***@127.0.0.1:${port} refused the connection (ECONNREFUSED)`);
    expect(logger.text()).toContain("proxy http://***@127.0.0.1");
    expect(logger.text()).not.toContain(SECRET);
  });

  it("a CONNECT the proxy refuses becomes proxy-rejected with its status", async () => {
    const http = await proxy(startHttpProxy());
    // The proxy cannot reach a closed port: it answers the CONNECT with an error status.
    const closed = await createPushServer({ port: 0 });
    const target = closed.url;
    await closed.close();
    const { agent } = service({ serverURL: target, proxy: http.url });
    const failed = firstFailure(agent);
    await agent.start();
    const { error } = await failed;
    expect(error.kind).toBe("proxy-rejected");
    expect(error.message).toMatch(
      new RegExp(
        `proxy http://127.0.0.1:${http.port} refused the tunnel to 127.0.0.1:\\d+ \\(HTTP \\d{3}\\)`,
      ),
    );
  });

  it("NO_PROXY-style noProxy sends a matching host direct", async () => {
    const http = await proxy(startHttpProxy());
    await roundTrip({ proxy: http.url, noProxy: "localhost, 127.0.0.1", tls: { ca: fixture.pki.ca } });
    expect(http.tunnels).toEqual([]);
  });
});

describe("a SOCKS5 proxy", () => {
  it("carries the WebSocket and the push, with username/password", async () => {
    const socks = await proxy(startSocksProxy({ user: "carol", password: SECRET }));
    await roundTrip({ proxy: socks.url, tls: { ca: fixture.pki.ca } });
    expect(socks.tunnels.filter((t) => t === fixture.target()).length).toBeGreaterThanOrEqual(2);
  });

  it("wrong credentials become proxy-auth, without them in the message", async () => {
    const socks = await proxy(startSocksProxy({ user: "carol", password: SECRET }));
    const { agent, logger } = service({
      proxy: socks.url.replace(SECRET, "nope-Pa55"),
      tls: { ca: fixture.pki.ca },
    });
    const failed = firstFailure(agent);
    await agent.start();
    const { error } = await failed;
    expect(error.kind).toBe("proxy-auth");
    expect(error.message).toBe(`SOCKS proxy socks5://***@127.0.0.1:${socks.port} refused the credentials`);
    expect(logger.text()).not.toContain("nope-Pa55");
  });
});

describe("client certificates", () => {
  it("a server that requires one accepts the client's, through the proxy", async () => {
    const strict = await createPushServer({
      port: 0,
      tls: {
        cert: fixture.pki.serverCert,
        key: fixture.pki.serverKey,
        ca: fixture.pki.ca,
        requestCert: true,
      },
    });
    cleanups.push(() => strict.close());
    const http = await proxy(startHttpProxy());
    const without = service({ serverURL: strict.url, proxy: http.url, tls: { ca: fixture.pki.ca } });
    const failed = firstFailure(without.agent);
    await without.agent.start();
    // The server's refusal of a missing certificate is a TLS failure, not the proxy's.
    expect((await failed).error.kind).toBe("tls");
    const { agent } = service({
      serverURL: strict.url,
      proxy: http.url,
      tls: { ca: fixture.pki.ca, cert: fixture.pki.clientCert, key: fixture.pki.clientKey },
    });
    await agent.start();
    await agent.ready();
    expect(http.tunnels.length).toBeGreaterThanOrEqual(2);
  });
});

describe("the environment alone: HTTPS_PROXY and NODE_EXTRA_CA_CERTS", () => {
  it("a process with no options goes through the proxy and trusts the private CA, WebSocket and sendPush", async () => {
    // Environment proxies skip loopback, so the child uses push.test, a name only the proxy resolves.
    const port = await freePort();
    const named = await createPushServer({
      port,
      endpointURL: `https://push.test:${port}`,
      tls: { cert: fixture.pki.serverCert, key: fixture.pki.serverKey },
    });
    cleanups.push(() => named.close());
    const http = await proxy(startHttpProxy(undefined, { "push.test": "127.0.0.1" }));
    const { HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy, ...rest } = process.env;
    const output = await runChild(`wss://push.test:${port}/`, {
      ...rest,
      HTTPS_PROXY: http.url,
      NO_PROXY: "localhost,127.0.0.1",
      NODE_EXTRA_CA_CERTS: fixture.pki.caFile,
    });
    expect(JSON.parse(output.stdout.trim().split("\n").at(-1) || "{}"), output.stderr).toMatchObject({
      status: 201,
      text: "from the environment",
    });
    // The WebSocket's tunnel and sendPush's.
    expect(http.tunnels.filter((t) => t === `push.test:${port}`).length).toBeGreaterThanOrEqual(2);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The child runs while this process serves the proxy and the push server: spawn, not spawnSync. */
function runChild(serverURL: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=push-agent-source", CHILD, serverURL],
      {
        cwd: ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", () => resolve({ stdout, stderr }));
  });
}
