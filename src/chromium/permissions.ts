/**
 * Whose word decides a site's push permission. By default the browser's notifications permission
 * (what Chromium and Firefox do), as the shim reads `Notification.permission` in the calling
 * context (CDP can set it, Browser.grantPermissions / setPermission, but has no getter). An
 * embedder can decide instead: a function from origin to granted / denied / prompt, and a prompt
 * hook for "prompt" when a page (never a worker, as in Chromium) subscribes.
 */

import type { BrowserPermission } from "./messages.ts";

export type PermissionDecision = BrowserPermission;

export interface PermissionOptions {
  /**
   * The embedder's decision for an origin; replaces the browser's notifications permission.
   * Keep it consistent with what the shell grants for notifications (Electron:
   * session.setPermissionCheckHandler), so Notification.permission tells the site the same.
   */
  permission?: (origin: string) => PermissionDecision | Promise<PermissionDecision>;
  /**
   * Asked when the state is "prompt" and a page subscribes; anything but "granted" denies. A
   * "granted" answer is the origin's permission from then on while permission() still says
   * "prompt" (as a granted prompt is in a browser), for as long as the bridge is attached:
   * permissionState() and delivery see it too. An embedder that keeps answers across restarts
   * returns them from permission().
   */
  prompt?: (origin: string) => "granted" | "denied" | Promise<"granted" | "denied">;
}

export class Permissions {
  readonly #options: PermissionOptions;
  /** Origins whose prompt the embedder answered "granted". */
  readonly #promptGranted = new Set<string>();

  constructor(options: PermissionOptions) {
    this.#options = options;
  }

  /** True when the embedder decides and the browser's own permission is not consulted. */
  get embedderDecides(): boolean {
    return this.#options.permission !== undefined;
  }

  /** The state for `origin`: the embedder's decision, else what the browser said in that context. */
  async state(origin: string, browser: BrowserPermission): Promise<PermissionDecision> {
    const decide = this.#options.permission;
    if (!decide) return browser;
    try {
      const state = await decide(origin);
      if (state === "prompt" && this.#promptGranted.has(origin)) return "granted";
      return state === "granted" || state === "prompt" ? state : "denied";
    } catch {
      return "denied";
    }
  }

  /** Subscribe's check: "prompt" from a page goes to the prompt hook; only "granted" passes. */
  async allowsSubscribe(origin: string, browser: BrowserPermission, fromPage: boolean): Promise<boolean> {
    const state = await this.state(origin, browser);
    if (state !== "prompt") return state === "granted";
    const prompt = this.#options.prompt;
    if (!prompt || !fromPage) return false;
    try {
      if ((await prompt(origin)) !== "granted") return false;
      this.#promptGranted.add(origin);
      return true;
    } catch {
      return false;
    }
  }
}
