/**
 * The proxy decision (src/net/proxy.ts) on its own: which proxy a URL gets from the option or
 * the environment, NO_PROXY as curl reads it, loopback kept direct for environment proxies, and
 * credentials that never reach an error message; and which WebSocket constructor that yields.
 */

import { afterEach, describe, expect, it, vi } from "vitest";
import { networkWebSocket as webNetworkWebSocket } from "../../src/net/network-web.ts";
import {
  bypassed,
  checkNetworkOptions,
  needsNetworkLayer,
  parseProxyURL,
  proxyFor,
  redactURL,
} from "../../src/net/proxy.ts";
import { webSocketFor } from "../../src/net/socket.ts";
import type { WebSocketConstructor } from "../../src/transport/websocket.ts";
import { textWithoutCredentials } from "../../src/url-credentials.ts";

const chosen = (target: string, options: Parameters<typeof proxyFor>[1], env: Record<string, string> = {}) =>
  proxyFor(new URL(target), options, env)?.url.href ?? null;

describe("the proxy for a URL", () => {
  it("wss:// and https:// take https_proxy, ws:// and http:// take http_proxy, both fall back to all_proxy", () => {
    const env = { HTTPS_PROXY: "http://secure:1", HTTP_PROXY: "http://plain:2", ALL_PROXY: "socks5://all:3" };
    expect(chosen("wss://push.example/", {}, env)).toBe("http://secure:1/");
    expect(chosen("https://push.example/wpush", {}, env)).toBe("http://secure:1/");
    expect(chosen("ws://push.example/", {}, env)).toBe("http://plain:2/");
    expect(chosen("http://push.example/", {}, env)).toBe("http://plain:2/");
    expect(chosen("wss://push.example/", {}, { ALL_PROXY: "socks5://all:3" })).toBe("socks5://all:3");
    expect(chosen("wss://push.example/", {}, {})).toBeNull();
  });

  it("reads lower case before upper case, and an empty value counts as unset", () => {
    expect(
      chosen("wss://a.example/", {}, { https_proxy: "http://lower:1", HTTPS_PROXY: "http://upper:2" }),
    ).toBe("http://lower:1/");
    expect(chosen("wss://a.example/", {}, { https_proxy: "", HTTPS_PROXY: "http://upper:2" })).toBe(
      "http://upper:2/",
    );
    expect(chosen("wss://a.example/", {}, { https_proxy: " ", all_proxy: "http://all:3" })).toBe(
      "http://all:3/",
    );
  });

  it("a proxy without a scheme is http://", () => {
    expect(chosen("wss://a.example/", {}, { HTTPS_PROXY: "corp-proxy:3128" })).toBe(
      "http://corp-proxy:3128/",
    );
  });

  it("loopback is never proxied from the environment, but is with an explicit proxy option", () => {
    const env = { HTTPS_PROXY: "http://p:1", HTTP_PROXY: "http://p:1" };
    for (const url of [
      "ws://127.0.0.1:8080/",
      "ws://localhost:8080/",
      "wss://[::1]:8443/",
      "ws://127.1.2.3/",
    ]) {
      expect(chosen(url, {}, env), url).toBeNull();
      expect(chosen(url, { proxy: "http://p:1" }, env), url).toBe("http://p:1/");
    }
  });

  it("proxy: false ignores the environment; an explicit proxy ignores it too, NO_PROXY included", () => {
    const env = { HTTPS_PROXY: "http://env:1", NO_PROXY: "*" };
    expect(chosen("wss://push.example/", { proxy: false }, env)).toBeNull();
    expect(chosen("wss://push.example/", { proxy: "socks5h://mine:1080" }, env)).toBe("socks5h://mine:1080");
    expect(
      chosen("wss://push.example/", { proxy: "http://mine:1", noProxy: "push.example" }, env),
    ).toBeNull();
  });

  it("the noProxy option wins over NO_PROXY for environment proxies", () => {
    const env = { HTTPS_PROXY: "http://env:1", NO_PROXY: "push.example" };
    expect(chosen("wss://push.example/", {}, env)).toBeNull();
    expect(chosen("wss://push.example/", { noProxy: "other.example" }, env)).toBe("http://env:1/");
  });
});

describe("NO_PROXY, as curl reads it", () => {
  const target = (url: string) => new URL(url);
  it("a domain matches itself and its subdomains, with or without a leading dot or *.", () => {
    for (const entry of ["example.com", ".example.com", "*.example.com"]) {
      expect(bypassed(target("wss://example.com/"), entry), entry).toBe(true);
      expect(bypassed(target("wss://push.example.com/"), entry), entry).toBe(true);
      expect(bypassed(target("wss://notexample.com/"), entry), entry).toBe(false);
      expect(bypassed(target("wss://example.com.evil/"), entry), entry).toBe(false);
    }
  });

  it("* alone matches everything; entries split on commas and spaces; case does not matter", () => {
    expect(bypassed(target("wss://any.where/"), "*")).toBe(true);
    expect(bypassed(target("wss://b.example/"), "a.example, B.Example other")).toBe(true);
    expect(bypassed(target("wss://c.example/"), "a.example,,b.example")).toBe(false);
  });

  it("host:port matches only that port (the scheme's default when the URL has none)", () => {
    expect(bypassed(target("wss://push.example/"), "push.example:443")).toBe(true);
    expect(bypassed(target("wss://push.example:8443/"), "push.example:443")).toBe(false);
    expect(bypassed(target("ws://push.example/"), "push.example:80")).toBe(true);
  });

  it("IP addresses match exactly, IPv6 with or without brackets", () => {
    expect(bypassed(target("wss://10.0.0.5/"), "10.0.0.5")).toBe(true);
    expect(bypassed(target("wss://10.0.0.50/"), "10.0.0.5")).toBe(false);
    expect(bypassed(target("wss://[fd00::1]/"), "fd00::1")).toBe(true);
    expect(bypassed(target("wss://[fd00::1]:8443/"), "[fd00::1]:8443")).toBe(true);
    expect(bypassed(target("wss://[fd00::1]:443/"), "[fd00::1]:8443")).toBe(false);
  });
});

describe("checking and showing proxy URLs", () => {
  it("accepts http, https and the SOCKS schemes; refuses others naming the proxy without credentials", () => {
    for (const ok of [
      "http://p:1",
      "https://p:1",
      "socks5://p:1",
      "socks5h://p:1",
      "socks4://p:1",
      "socks://p:1",
    ]) {
      expect(() => parseProxyURL(ok), ok).not.toThrow();
    }
    expect(() => parseProxyURL("ftp://user:hunter2@p:1")).toThrow(
      /^proxy ftp:\/\/\*\*\*@p:1 has an unsupported scheme; use http:\/\/, https:\/\/, socks5:\/\/ or socks5h:\/\/$/,
    );
    expect(() => parseProxyURL("http://user:hunter2@[bad")).toThrow(
      /^proxy is not a valid URL: http:\/\/\*\*\*@\[bad$/,
    );
  });

  it("masks user and password in URLs and in free text", () => {
    expect(redactURL(new URL("http://alice:pw@proxy.corp:3128"))).toBe("http://***@proxy.corp:3128");
    expect(redactURL(new URL("socks5://proxy.corp:1080"))).toBe("socks5://proxy.corp:1080");
    expect(textWithoutCredentials("connect via http://alice:pw@proxy:1 and socks5://bob@p:2 failed")).toBe(
      "connect via http://***@proxy:1 and socks5://***@p:2 failed",
    );
  });

  it("option checks name the option", () => {
    expect(() => checkNetworkOptions({ proxy: 42 as unknown as string })).toThrow(
      /^proxy must be a URL string or false$/,
    );
    expect(() => checkNetworkOptions({ tls: { ca: 5 as unknown as string } })).toThrow(
      /^tls\.ca must be PEM text/,
    );
    expect(() =>
      checkNetworkOptions({ proxy: false, tls: { ca: "PEM", cert: ["a", new Uint8Array(1)] } }),
    ).not.toThrow();
  });

  it("the plain path stays when nothing asks for a proxy or TLS material", () => {
    expect(needsNetworkLayer({}, {})).toBe(false);
    expect(needsNetworkLayer({ proxy: false }, { HTTPS_PROXY: "http://p:1" })).toBe(false);
    expect(needsNetworkLayer({}, { https_proxy: "http://p:1" })).toBe(true);
    expect(needsNetworkLayer({}, { NO_PROXY: "*" })).toBe(false);
    expect(needsNetworkLayer({ proxy: false, tls: { ca: "PEM" } }, {})).toBe(true);
    expect(needsNetworkLayer({ tls: {} }, {})).toBe(false);
  });
});

describe("which WebSocket constructor a connection gets", () => {
  afterEach(() => vi.unstubAllEnvs());
  const Given = class {} as unknown as WebSocketConstructor;

  it("the caller's own constructor is left alone by an environment proxy", async () => {
    vi.stubEnv("HTTPS_PROXY", "http://env-proxy:3128");
    expect(await webSocketFor({ WebSocket: Given })).toBe(Given);
  });

  it("no constructor and a proxy in the environment: the network layer's `ws`", async () => {
    vi.stubEnv("HTTPS_PROXY", "http://env-proxy:3128");
    const Ctor = await webSocketFor({});
    expect(Ctor.name).toBe("ProxiedWebSocket");
  });

  it("without Node (the browser layer): explicit proxy or tls is refused, an environment proxy is left to the runtime", async () => {
    await expect(webNetworkWebSocket(Given, { proxy: "http://p:1" })).rejects.toThrow(
      /^the proxy and tls options need Node/,
    );
    await expect(webNetworkWebSocket(Given, { proxy: false, tls: { ca: "PEM" } })).rejects.toThrow(TypeError);
    expect(await webNetworkWebSocket(Given, {})).toBe(Given);
  });
});
