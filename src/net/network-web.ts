/**
 * The network layer where there is no Node (browsers, the browser bundle): the runtime's own
 * proxy settings and trust store apply, and a page cannot choose others, so asking for a proxy or
 * TLS material is an error that says so. Picked by `#network`'s default condition.
 */

import type { WebSocketConstructor } from "../transport/websocket.ts";
import type { NetworkOptions } from "./proxy.ts";

export async function networkWebSocket(
  _base: WebSocketConstructor | undefined,
  _options: NetworkOptions,
): Promise<WebSocketConstructor> {
  throw new TypeError(
    "the proxy and tls options need Node (the ws package); a browser uses its own proxy settings and trust store",
  );
}
