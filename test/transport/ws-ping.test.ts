/**
 * WebSocket-level pings from the server (autoconnect sends one every auto_ping_interval and drops
 * a client whose pong is later than 4 s): push-agent over `ws` answers each one at once.
 */

import { afterEach, describe, expect, it } from "vitest";
import type { PushService } from "../../src/service/push-service.ts";
import { ScriptedServer } from "../helpers/scripted-server.ts";
import { newService } from "../helpers/service.ts";

let server: ScriptedServer | undefined;
let service: PushService | undefined;

afterEach(async () => {
  await service?.stop();
  await server?.close();
});

describe("WebSocket ping frames", () => {
  it("are answered with a pong carrying the same payload, every time", async () => {
    server = await ScriptedServer.start();
    ({ service } = newService(server.url));
    await service.start();
    const connection = await server.nextConnection();
    await connection.acceptHello();
    await service.ready();
    for (let i = 0; i < 5; i++) {
      const payload = Buffer.from(`ping ${i}`);
      const pong = new Promise<Buffer>((resolve) => connection.socket.once("pong", resolve));
      connection.socket.ping(payload);
      expect((await pong).toString()).toBe(`ping ${i}`);
    }
    expect(service.state).toBe("Ready");
    // A pong is not a WebPush frame: nothing else was sent.
    expect(connection.received.map((text) => JSON.parse(text).messageType)).toEqual(["hello"]);
  });
});
