/**
 * A TCP proxy between the user agent and the local push server: the network the faults happen
 * on. `cut()` drops every connection in both directions at once (what a NAT timeout or a Wi-Fi
 * switch does); `down()` also stops accepting, so reconnects are refused until `up()`;
 * `blackhole()` keeps the live connections open but carries nothing more on them, either way (a
 * NAT mapping that vanished while the machine slept: a zombie socket), while new connections
 * work. The push server keeps running, with its stored messages, throughout.
 */

import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  readonly #targetPort: number;
  #server: Server | null = null;
  #port = 0;
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Connections accepted since start. */
  accepted = 0;
  /** Times cut() dropped at least one live connection. */
  cuts = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.up();
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#port}/`;
  }

  get live(): number {
    return this.#pairs.size;
  }

  /** Listen (again, on the same port once one was bound). */
  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Bytes swallowed by black-holed connections. */
  swallowed = 0;

  /** The live connections stay open and silent: nothing they carry arrives any more. */
  blackhole(): void {
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      for (const socket of [client, upstream]) {
        socket.on("data", (chunk: Buffer) => {
          this.swallowed += chunk.length;
        });
        // unpipe() left the stream paused; read and drop.
        socket.resume();
      }
    }
  }

  /** Drop every live connection, both ways, without a closing handshake. */
  cut(): void {
    if (this.#pairs.size > 0) this.cuts++;
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Stop accepting and drop what is live: the network is gone. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    this.cut();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.down();
  }

  #accept(client: Socket): void {
    this.accepted++;
    const upstream = connect(this.#targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.on("error", drop);
      socket.on("close", drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
