/**
 * URLs as they go into a log line or onto a terminal: without the `user:password@` part, which
 * a server URL may carry (basic auth through a proxy, a token as the user name).
 */

/** The URL with any userinfo replaced by `***@`; text that is no URL comes back unchanged. */
export function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username === "" && parsed.password === "") return url;
  parsed.username = "";
  parsed.password = "";
  return parsed.href.replace("//", "//***@");
}
