import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/unit/**/*.test.ts"],
    // Building a small atlas (HNSW + UMAP) takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
});
