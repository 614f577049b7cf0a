/**
 * The one place that decides which proxy, if any, carries a connection to a URL, and the network
 * options (proxy, NO_PROXY, TLS) that every outgoing path shares: the user agent's WebSocket,
 * sendPush, smoke, loadtest and the CLI. Pure string work, no Node built-in, so the browser entry
 * can validate the options; the sockets themselves are made in net/network-node.ts.
 *
 * The rules, written down once (README "Proxies and private CAs" says the same):
 * - `proxy: false`: no proxy, the environment is ignored.
 * - `proxy: "<url>"`: that proxy for every host, loopback included (asked for explicitly), except
 *   the hosts in `noProxy`. The environment is not read.
 * - no `proxy`: the environment, as curl and npm read it. wss:// and https:// use `https_proxy`,
 *   ws:// and http:// use `http_proxy`, both falling back to `all_proxy`; each name in lower case
 *   first, then upper case; an empty value is unset. Hosts in `no_proxy` / `NO_PROXY` (or the
 *   `noProxy` option, which wins) and loopback hosts are never proxied from the environment (as
 *   Chromium and Go do; curl would proxy localhost, which is never what a push client means).
 * - NO_PROXY, as curl reads it: entries split by commas or spaces; `*` alone matches every host;
 *   `example.com`, `.example.com` and `*.example.com` all match example.com and its subdomains;
 *   `host:port` matches only that port; IP addresses match exactly (IPv6 with or without brackets).
 * - A proxy URL without a scheme is http://. Schemes: http, https (TLS to the proxy), socks5,
 *   socks5h (the proxy resolves names), socks4, socks4a, socks (= socks5h).
 */

import { textWithoutCredentials } from "../url-credentials.ts";
import { isLoopbackHost } from "./hosts.ts";

/** PEM text or DER/PEM bytes. */
export type TlsMaterial = string | Uint8Array;

export interface TlsOptions {
  /**
   * Extra certificate authorities to trust (PEM), in addition to the runtime's own trust store
   * and NODE_EXTRA_CA_CERTS. Used for the push server, the push endpoints and an https:// proxy.
   */
  ca?: TlsMaterial | TlsMaterial[];
  /** Client certificate chain (PEM) for servers that ask for one. */
  cert?: TlsMaterial | TlsMaterial[];
  /** The client certificate's private key (PEM). */
  key?: TlsMaterial | TlsMaterial[];
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
}

/** The network options every outgoing path accepts (Node only, except `proxy: false`). */
export interface NetworkOptions {
  /**
   * Proxy URL (`http://user:pass@host:3128`, `socks5://host:1080`, ...); `false` for none and no
   * environment. Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY from the environment.
   */
  proxy?: string | false;
  /** Hosts that bypass the proxy, NO_PROXY syntax. Default: NO_PROXY when the proxy comes from the environment. */
  noProxy?: string;
  /** A private CA, a client certificate. */
  tls?: TlsOptions;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** The proxy chosen for one URL, with where it came from (for messages). */
export interface ProxyChoice {
  url: URL;
  source: "option" | "environment";
}

export const PROXY_SCHEMES = ["http:", "https:", "socks:", "socks4:", "socks4a:", "socks5:", "socks5h:"];

/** The process environment where there is one (Node, Deno with --allow-env, Bun); else empty. */
export function processEnvironment(): Environment {
  try {
    const env = (globalThis as { process?: { env?: Environment } }).process?.env;
    // A copy: Deno without --allow-env throws on reading it, here rather than at a later lookup.
    return env ? { ...env } : {};
  } catch {
    return {};
  }
}

/** Just the network options out of a larger options object (what is handed on to a layer below). */
export function networkOf(options: NetworkOptions): NetworkOptions {
  const { proxy, noProxy, tls } = options;
  return {
    ...(proxy !== undefined ? { proxy } : {}),
    ...(noProxy !== undefined ? { noProxy } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** The proxy for `target`, or null for a direct connection. */
export function proxyFor(
  target: URL,
  options: NetworkOptions,
  env: Environment = processEnvironment(),
): ProxyChoice | null {
  if (options.proxy === false) return null;
  if (typeof options.proxy === "string") {
    if (bypassed(target, options.noProxy ?? "")) return null;
    return { url: parseProxyURL(options.proxy), source: "option" };
  }
  const fromEnv = environmentProxy(target, env);
  if (!fromEnv || isLoopbackHost(target.hostname)) return null;
  if (bypassed(target, options.noProxy ?? envValue(env, "no_proxy") ?? "")) return null;
  return { url: parseProxyURL(fromEnv), source: "environment" };
}

/**
 * Whether a connection may need more than the runtime's plain WebSocket / fetch: a proxy
 * (given or in the environment) or TLS material. False keeps the default path untouched.
 */
export function needsNetworkLayer(options: NetworkOptions, env: Environment = processEnvironment()): boolean {
  if (options.tls && Object.values(options.tls).some((value) => value !== undefined)) return true;
  if (options.proxy === false) return false;
  if (typeof options.proxy === "string") return true;
  return ["https_proxy", "http_proxy", "all_proxy"].some((name) => envValue(env, name) !== undefined);
}

/** Throws a TypeError naming the option when `proxy` or `tls` is malformed. */
export function checkNetworkOptions(options: NetworkOptions): void {
  const { proxy, noProxy, tls } = options;
  if (proxy !== undefined && proxy !== false) {
    if (typeof proxy !== "string") throw new TypeError("proxy must be a URL string or false");
    parseProxyURL(proxy);
  }
  if (noProxy !== undefined && typeof noProxy !== "string") {
    throw new TypeError("noProxy must be a string in NO_PROXY syntax (comma-separated hosts)");
  }
  if (tls === undefined) return;
  if (typeof tls !== "object" || tls === null) throw new TypeError("tls must be an object { ca, cert, key }");
  for (const name of ["ca", "cert", "key"] as const) {
    const value = tls[name];
    if (value === undefined) continue;
    const items = Array.isArray(value) ? value : [value];
    if (!items.every((item) => typeof item === "string" || item instanceof Uint8Array)) {
      throw new TypeError(`tls.${name} must be PEM text or bytes (or a list of them)`);
    }
  }
}

/** The proxy URL, checked; a URL without a scheme is http://. Errors never repeat credentials. */
export function parseProxyURL(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`proxy is not a valid URL: ${textWithoutCredentials(text)}`);
  }
  if (!PROXY_SCHEMES.includes(url.protocol)) {
    throw new TypeError(
      `proxy ${redactURL(url)} has an unsupported scheme; use http://, https://, socks5:// or socks5h://`,
    );
  }
  if (!url.hostname) throw new TypeError(`proxy ${redactURL(url)} names no host`);
  return url;
}

/** The proxy as it may be shown: scheme, host and port; credentials become `***` (as withoutCredentials). */
export function redactURL(url: URL): string {
  const auth = url.username || url.password ? "***@" : "";
  return `${url.protocol}//${auth}${url.host}`;
}

function environmentProxy(target: URL, env: Environment): string | undefined {
  const secure = target.protocol === "wss:" || target.protocol === "https:";
  return envValue(env, secure ? "https_proxy" : "http_proxy") ?? envValue(env, "all_proxy");
}

/** Lower case first, then upper case (curl, npm, proxy-from-env); empty counts as unset. */
function envValue(env: Environment, lower: string): string | undefined {
  const value = env[lower] || env[lower.toUpperCase()];
  return value ? value.trim() || undefined : undefined;
}

/** Whether `target` matches a NO_PROXY list. */
export function bypassed(target: URL, noProxy: string): boolean {
  const host = bare(target.hostname.toLowerCase());
  const port = Number(target.port) || defaultPort(target.protocol);
  for (const raw of noProxy.toLowerCase().split(/[\s,]+/)) {
    if (!raw) continue;
    if (raw === "*") return true;
    const { name, port: entryPort } = splitEntry(raw);
    if (entryPort !== undefined && entryPort !== port) continue;
    const domain = name.replace(/^\*?\.?/, "");
    if (!domain) continue;
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function splitEntry(entry: string): { name: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1] ?? "", ...portOf(bracketed[2]) };
  // A bare IPv6 address has several colons and no port.
  if ((entry.match(/:/g) ?? []).length > 1) return { name: entry };
  const hostPort = /^(.*):(\d+)$/.exec(entry);
  if (hostPort) return { name: hostPort[1] ?? "", ...portOf(hostPort[2]) };
  return { name: entry };
}

function portOf(text: string | undefined): { port?: number } {
  return text === undefined ? {} : { port: Number(text) };
}

function bare(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

function defaultPort(protocol: string): number {
  return protocol === "wss:" || protocol === "https:" ? 443 : 80;
}
