/**
 * `push-agent/chromium`: Web Push for the sites a Chromium-based browser hosts. attachPushBridge
 * makes `pushManager.subscribe()` in pages and real `push` events in service workers work through
 * a PushService, over the Chrome DevTools Protocol. Node only (it opens WebSockets with `ws`).
 *
 *   const cdp = await connectCdp("http://127.0.0.1:9222");   // or fromPuppeteer(browser) / fromElectron(wc.debugger)
 *   const service = new PushService({ db: await openLevelPushDB(dir) });
 *   await service.start();
 *   const bridge = await attachPushBridge(cdp, { service });
 */

export type { ElectronDebugger, PuppeteerBrowser, SessionLike } from "./adapters.ts";
export { fromElectron, fromPuppeteer, fromSession } from "./adapters.ts";
export type { PermissionDecision, PermissionOptions, PushBridge, PushBridgeOptions } from "./bridge.ts";
export { attachPushBridge } from "./bridge.ts";
export type { CdpConnection, CdpErrorKind, CdpEvent, CdpRoot, ConnectCdpOptions } from "./cdp.ts";
export { CdpCommandError, CdpError, connectCdp, devToolsURL } from "./cdp.ts";
