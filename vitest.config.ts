import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "libs/*/test/**/*.test.ts",
      "services/*/test/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "test/**/*.test.ts",
      "deploy/test/**/*.test.ts",
    ],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
