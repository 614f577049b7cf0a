/**
 * Which WebSocket constructor a connection uses once the network options are counted: the
 * default one (transport/websocket.ts) when no proxy or TLS material applies, else one from the
 * Node network layer (`#network`), loaded only then so the browser entry never pulls it in.
 */

import { loadDefaultWebSocket, type WebSocketConstructor } from "../transport/websocket.ts";
import { type NetworkOptions, needsNetworkLayer } from "./proxy.ts";

export interface SocketChoice extends NetworkOptions {
  WebSocket?: WebSocketConstructor | undefined;
}

/**
 * A caller's own `WebSocket` owns its connection: only a `proxy` or `tls` given explicitly
 * applies to it, never the environment's proxy (the load tester hands its already-bound
 * constructor to PushServices this way).
 */
export async function webSocketFor(options: SocketChoice): Promise<WebSocketConstructor> {
  const { WebSocket: given, ...network } = options;
  const effective: NetworkOptions = given ? { ...network, proxy: network.proxy ?? false } : network;
  if (!needsNetworkLayer(effective)) return given ?? loadDefaultWebSocket();
  const { networkWebSocket } = await import("#network");
  return networkWebSocket(given, effective);
}
