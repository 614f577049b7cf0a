/**
 * The burst bench's server, in its own process: just enough of autopush's WebSocket protocol for
 * one user agent. hello → a hello reply; register → a register reply; and right after the next
 * hello reply, every notification frame the parent loaded over IPC, written at once, so the user
 * agent (not the server, not a sender) is what limits the rate. The parent gets
 * { type: "ready", url } first and { type: "loaded" } after each load.
 */

import { WebSocketServer } from "ws";

const UAID = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
let burst: string[] = [];

wss.on("connection", (ws) => {
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data)) as { messageType?: string; channelID?: string };
    if (frame.messageType === "hello") {
      ws.send(JSON.stringify({ messageType: "hello", uaid: UAID, status: 200, use_webpush: true }));
      const frames = burst;
      burst = [];
      for (const text of frames) ws.send(text);
    } else if (frame.messageType === "register") {
      const pushEndpoint = `http://127.0.0.1/wpush/v1/${frame.channelID}`;
      ws.send(
        JSON.stringify({ messageType: "register", channelID: frame.channelID, status: 200, pushEndpoint }),
      );
    }
  });
});

process.on("message", (message: { type: string; frames?: string[] }) => {
  if (message.type === "load") {
    burst = message.frames ?? [];
    process.send?.({ type: "loaded" });
  }
  if (message.type === "close") {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0));
wss.on("listening", () => {
  const address = wss.address() as { port: number };
  process.send?.({ type: "ready", url: `ws://127.0.0.1:${address.port}/`, uaid: UAID });
});
