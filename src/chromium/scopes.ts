/**
 * The PushService scope a site's subscription is stored under: one per browser context and
 * service worker scope. The browser's own profile (the default browser context, which survives a
 * restart) uses the scope URL as it is, so the store matches again after a restart; an
 * off-the-record context that the embedder allowed gets the context id appended as a fragment (a
 * registration's scope never has one), so two such contexts never share a subscription.
 */

const CONTEXT_MARK = "#push-agent-context=";

export interface SiteScope {
  scopeURL: string;
  /** null: the browser's default (persistent) context. */
  ephemeralContext: string | null;
}

export function scopeKey(scopeURL: string, ephemeralContext: string | null): string {
  return ephemeralContext === null ? scopeURL : `${scopeURL}${CONTEXT_MARK}${ephemeralContext}`;
}

export function parseScopeKey(key: string): SiteScope {
  const at = key.indexOf(CONTEXT_MARK);
  if (at < 0) return { scopeURL: key, ephemeralContext: null };
  return { scopeURL: key.slice(0, at), ephemeralContext: key.slice(at + CONTEXT_MARK.length) };
}

/** The prefix PushService.permissionChanged takes for every scope of an origin. */
export function originPrefix(origin: string): string {
  return `${origin}/`;
}
