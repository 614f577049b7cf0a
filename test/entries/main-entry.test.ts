/**
 * The main entry's public surface (README "Public entries"): exactly these values, and the types
 * its signatures use are importable from it (checked by `npm run typecheck`, which covers test/).
 */

import { describe, expect, it } from "vitest";
import type {
  ClearPattern,
  DecryptionKeys,
  EncryptedPush,
  PermissionState,
  PushService,
  QuotaOptions,
} from "../../src/index.ts";

const VALUES = [
  "ConstraintError",
  "DecryptError",
  "PUSH_SUBPROTOCOL",
  "PushError",
  "PushMessageData",
  "PushService",
  "PushSubscription",
  "createMemoryStorage",
  "decrypt",
  "generateKeys",
  "openIndexedDBPushDB",
  "openMemoryPushDB",
];

describe("push-agent (main entry)", () => {
  it("exports exactly the documented values: no internals such as shortEndpoint or MIN_PING_INTERVAL", async () => {
    const entry = await import("../../src/index.ts");
    expect(Object.keys(entry).sort()).toEqual([...VALUES].sort());
  });

  it("names the types its own signatures take", () => {
    // Each line fails `npm run typecheck` if the entry stops exporting the type or it stops fitting.
    const permission: Parameters<PushService["permissionChanged"]>[1] = "denied" satisfies PermissionState;
    const pattern: Parameters<PushService["clear"]>[0] = { site: "example.com" } satisfies ClearPattern;
    const quota: QuotaOptions = { lastVisit: () => Number.NEGATIVE_INFINITY };
    const decryptKeys = (keys: DecryptionKeys, push: EncryptedPush) => [keys.authSecret, push.data];
    expect([permission, pattern.site, quota.lastVisit("https://a.example/"), typeof decryptKeys]).toEqual([
      "denied",
      "example.com",
      Number.NEGATIVE_INFINITY,
      "function",
    ]);
  });
});
