// @ts-check
import { defineConfig } from "astro/config";
import atlasIntegration from "./src/lib/atlas-integration.ts";

// Absolute URLs (og:url) are built from SITE_URL; set it to the public origin when deploying.
export default defineConfig({
  site: process.env.SITE_URL ?? "http://localhost:4321",
  output: "static",
  trailingSlash: "always",
  // Stylesheets stay files: inlined, they would be repeated in every one of 100k feature pages.
  build: { format: "directory", inlineStylesheets: "never" },
  integrations: [atlasIntegration()],
  vite: {
    build: {
      // The map bundle (deck.gl) is large by nature and loaded on the map page only.
      chunkSizeWarningLimit: 1500,
      // Scripts stay files too: Astro inlines small ones, which would repeat them in every feature
      // page and give each its own hash to list in a Content-Security-Policy (docs/csp.md).
      // Other assets keep Vite's default.
      assetsInlineLimit: (/** @type {string} */ filePath) => (filePath.endsWith(".js") ? false : undefined),
    },
  },
});
