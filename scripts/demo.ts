/**
 * `npm run demo`: build the demo atlas from `data/demo/` (skipped when its inputs have not
 * changed), build the site, and serve it on localhost. Options: --port <n> (default 4321),
 * --rebuild (build the atlas even if it is up to date), --no-serve (build only).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildAtlas } from "../precompute/build.ts";
import { serveStatic } from "./serve-static.ts";

const root = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "4321" },
    rebuild: { type: "boolean", default: false },
    "no-serve": { type: "boolean", default: false },
  },
});

const dataDir = join(root, "data", "demo");
const atlasDir = join(root, "atlases");
const out = join(atlasDir, "demo");

/** Up to date when every input named in the manifest still has the hash it was built from. */
function atlasUpToDate(): boolean {
  const manifestPath = join(out, "manifest.json");
  if (!existsSync(manifestPath)) return false;
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { inputs: { name: string; sha256: string }[] };
    const present = new Set(readdirSync(dataDir));
    return manifest.inputs.every(
      (f) => present.has(f.name) && createHash("sha256").update(readFileSync(join(dataDir, f.name))).digest("hex") === f.sha256,
    );
  } catch {
    return false;
  }
}

if (values.rebuild || !atlasUpToDate()) {
  await buildAtlas({
    dictionary: dataDir,
    out,
    id: "demo",
    title: "GloVe words · TopK SAE · 4,096 features",
    description:
      "A TopK sparse autoencoder trained on 100-d GloVe word vectors. Each feature is labelled by the words nearest its decoder direction.",
  });
} else {
  process.stderr.write(`[Demo atlas] ${out} is up to date (use --rebuild to build it again)\n`);
}

process.stderr.write("[Building site]\n");
const astro = spawnSync(process.execPath, [join(root, "node_modules", "astro", "astro.js"), "build", "--silent"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, ATLAS_DIR: atlasDir },
});
if (astro.status !== 0) process.exit(astro.status ?? 1);

if (!values["no-serve"]) {
  const { url } = await serveStatic(join(root, "dist"), Number(values.port));
  process.stdout.write(`\nFeature Atlas demo is running at ${url}/demo/\nPress Ctrl+C to stop.\n`);
}
