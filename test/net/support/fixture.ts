/**
 * What the proxy suites share: a private CA and a wss:// push server whose certificate it signed
 * (made once per file), proxies and other resources closed after each test.
 */

import { afterAll, afterEach, beforeAll } from "vitest";
import { createPushServer, type PushServer } from "../../../src/server/index.ts";
import { createPrivatePki, type PrivatePki } from "../../helpers/pki.ts";
import type { RunningProxy } from "../../helpers/proxies.ts";

export interface ProxyFixture {
  readonly pki: PrivatePki;
  readonly server: PushServer;
  /** Closed (in reverse) after the current test. */
  readonly cleanups: (() => Promise<void> | void)[];
  /** A started proxy, closed after the test. */
  proxy<T extends RunningProxy>(started: Promise<T>): Promise<T>;
  /** `host:port` of the push server, as a proxy sees the tunnel's target. */
  target(): string;
}

export function privateCaServer(): ProxyFixture {
  let pki: PrivatePki | undefined;
  let server: PushServer | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    pki = createPrivatePki();
    server = await createPushServer({ port: 0, tls: { cert: pki.serverCert, key: pki.serverKey } });
  });
  afterAll(async () => {
    await server?.close();
    pki?.remove();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    get pki() {
      if (!pki) throw new Error("the fixture is not set up yet");
      return pki;
    },
    get server() {
      if (!server) throw new Error("the fixture is not set up yet");
      return server;
    },
    cleanups,
    async proxy(started) {
      const running = await started;
      cleanups.push(() => running.close());
      return running;
    },
    target: () => new URL(server?.url ?? "ws://unset/").host,
  };
}
