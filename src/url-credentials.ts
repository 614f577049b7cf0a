/**
 * URLs as they go into a log line or onto a terminal: without the `user:password@` part, which
 * a server URL may carry (basic auth through a proxy, a token as the user name), and a proxy URL
 * inside an error message.
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

/** Any `scheme://user:pass@` in free text (an error message, a log line) loses its credentials. */
export function textWithoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@");
}
