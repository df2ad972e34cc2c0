/**
 * `npm run demo`: build the atlases listed in `atlas.config.json` (each skipped when its inputs
 * and options have not changed), build the site, and serve it on localhost. Options: --port <n>
 * (default 4321), --rebuild (build every atlas even if it is up to date), --no-serve (build only),
 * --config <file> (another site config).
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildSite } from "../precompute/site.ts";
import { serveStatic } from "./serve-static.ts";
import { astroBuild } from "./astro-build.ts";

const root = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "4321" },
    rebuild: { type: "boolean", default: false },
    "no-serve": { type: "boolean", default: false },
    config: { type: "string", default: join(root, "atlas.config.json") },
  },
});

const site = await buildSite(values.config, { skipUpToDate: !values.rebuild }).catch((e: Error) => {
  // A problem with the config or an input is the message; anything else keeps its stack.
  process.stderr.write(`error: ${e.name === "InputError" ? e.message : (e.stack ?? e.message)}\n`);
  process.exit(1);
});
const atlasDir = site.atlasRoot;
const first = site.atlases[0]!.entry.id;

process.stderr.write("[Building site]\n");
await astroBuild({ outDir: join(root, "dist"), env: { ...process.env, ATLAS_DIR: atlasDir } }).catch((e: Error) => {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
});

if (!values["no-serve"]) {
  const { url } = await serveStatic(join(root, "dist"), Number(values.port));
  process.stdout.write(`\nFeature Atlas demo is running at ${url}/${first}/ (all atlases: ${url}/)\nPress Ctrl+C to stop.\n`);
}
