/**
 * The network layer where there is no Node (browsers, the browser bundle): the runtime's own
 * proxy settings and trust store apply, and a page cannot choose others. Asking for a proxy or
 * TLS material explicitly is an error that says so; a proxy merely found in the environment (an
 * Electron renderer with Node integration sees process.env) is left to the runtime. Picked by
 * `#network`'s default condition.
 */

import { loadDefaultWebSocket, type WebSocketConstructor } from "../transport/websocket.ts";
import type { NetworkOptions } from "./proxy.ts";

export async function networkWebSocket(
  base: WebSocketConstructor | undefined,
  options: NetworkOptions,
): Promise<WebSocketConstructor> {
  if (typeof options.proxy === "string" || options.tls !== undefined) {
    throw new TypeError(
      "the proxy and tls options need Node (the ws package); a browser uses its own proxy settings and trust store",
    );
  }
  return base ?? loadDefaultWebSocket();
}
