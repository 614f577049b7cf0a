import { defineConfig } from "vitest/config";

const slow = process.env.SLOW === "1";
/** The consumer test packs and installs the package: only `npm run test:consumer` runs it. */
const consumer = process.env.CONSUMER === "1";

export default defineConfig({
  resolve: { conditions: ["push-agent-source"] },
  ssr: { resolve: { conditions: ["push-agent-source"], externalConditions: ["push-agent-source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: [...(slow ? [] : ["test/**/*.slow.test.ts"]), ...(consumer ? [] : ["test/package/**"])],
    environment: "node",
    testTimeout: slow ? 600_000 : 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    reporters: ["default"],
  },
});
