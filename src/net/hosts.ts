/**
 * Host classification shared by the user agent, the CLI and the proxy resolver: which host names
 * are this machine (loopback). Pure string checks, no resolution, so it is safe in every runtime.
 */

const LOOPBACK_NAMES = new Set(["localhost", "[::1]", "::1"]);
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** A URL hostname (IPv6 with or without brackets) that names this machine. */
export function isLoopbackHost(hostname: string): boolean {
  if (LOOPBACK_NAMES.has(hostname.toLowerCase())) return true;
  return LOOPBACK_IPV4.test(hostname);
}
