/**
 * The network flags every command that connects out shares (listen, send, smoke, loadtest):
 * --proxy, --no-proxy, --ca, --cert, --key, read into the library's NetworkOptions. Files are
 * read here so a missing one is a one-line usage error before anything connects.
 */

import { readFile } from "node:fs/promises";
import { checkNetworkOptions, type NetworkOptions, type TlsOptions } from "../net/proxy.ts";
import {
  booleanOption,
  listOption,
  type OptionSpec,
  type ParsedValues,
  stringOption,
  UsageError,
} from "./args.ts";

export const NETWORK_OPTIONS: Record<string, OptionSpec> = {
  proxy: {
    type: "string",
    value: "URL",
    description: "proxy: http://[user:pass@]host:port or socks5://host:port (default: HTTPS_PROXY etc.)",
  },
  "no-proxy": {
    type: "boolean",
    description: "connect directly, ignoring HTTPS_PROXY / HTTP_PROXY / ALL_PROXY",
  },
  ca: {
    type: "string",
    value: "FILE",
    multiple: true,
    description: "also trust this CA certificate (PEM; repeatable)",
  },
  cert: { type: "string", value: "FILE", description: "client certificate (PEM), with --key" },
  key: { type: "string", value: "FILE", description: "the client certificate's private key (PEM)" },
};

export const NETWORK_DETAILS = [
  "Proxies: without --proxy, HTTPS_PROXY (wss://, https://), HTTP_PROXY (ws://, http://) and",
  "ALL_PROXY apply, in either case, except for NO_PROXY hosts and loopback. NODE_EXTRA_CA_CERTS",
  "is trusted as well as --ca. Proxy credentials never appear in output.",
].join("\n");

export async function readNetworkOptions(values: ParsedValues): Promise<NetworkOptions> {
  const proxy = stringOption(values, "proxy");
  const direct = booleanOption(values, "no-proxy");
  if (proxy !== undefined && direct) throw new UsageError("use either --proxy or --no-proxy, not both");
  const cert = stringOption(values, "cert");
  const key = stringOption(values, "key");
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --key go together");
  const tls: TlsOptions = {};
  const ca = listOption(values, "ca");
  if (ca.length > 0) tls.ca = await Promise.all(ca.map((file) => readPem("ca", file)));
  if (cert !== undefined && key !== undefined) {
    tls.cert = await readPem("cert", cert);
    tls.key = await readPem("key", key);
  }
  const options: NetworkOptions = {
    ...(direct ? { proxy: false as const } : proxy !== undefined ? { proxy } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
  try {
    checkNetworkOptions(options);
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}`);
  }
  return options;
}

async function readPem(flag: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`--${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? "cannot read"}`);
  }
  if (!text.includes("-----BEGIN ")) throw new UsageError(`--${flag} ${file} is not a PEM file`);
  return text;
}
