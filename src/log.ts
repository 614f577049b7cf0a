/**
 * The logger contract and the helpers that keep secrets out of logs: push-agent never passes a
 * private key or an auth secret to a logger, and endpoints only in shortened form.
 */

export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * An endpoint is a bearer capability: whoever has it can push. Logs get its origin and the
 * first characters of the token only.
 */
export function shortEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    const path = url.pathname.length > 20 ? `${url.pathname.slice(0, 20)}…` : url.pathname;
    return `${url.origin}${path}`;
  } catch {
    return "<invalid endpoint>";
  }
}

/** The one-line text of anything thrown. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
