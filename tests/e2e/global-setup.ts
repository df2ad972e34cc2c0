/**
 * Builds once for the whole e2e run: the demo atlas (from the committed `data/demo/` dictionary)
 * and a small gpt2-small atlas (real SAEDashboard evidence, synthetic geometry: see
 * scripts/gpt2-fixture-atlas.ts) into a temporary folder, then the site with `astro build --outDir`, then serves it on port 0.
 * The URL reaches the tests through E2E_BASE_URL, which Playwright passes on to its workers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { buildAtlas } from "../../precompute/build.ts";
import { serveStatic } from "../../scripts/serve-static.ts";
import { HOSTILE_DESCRIPTION, HOSTILE_ID } from "../../scripts/make-hostile-dictionary.ts";
import { buildGpt2FixtureAtlas, GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";

const root = resolve(import.meta.dirname, "..", "..");

export default async function globalSetup(): Promise<() => Promise<void>> {
  const work = mkdtempSync(join(tmpdir(), "atlas-e2e-"));
  const atlases = join(work, "atlases");
  const dist = join(work, "dist");
  await buildAtlas({
    dictionary: join(root, "data", "demo"),
    out: join(atlases, "demo"),
    id: "demo",
    title: "GloVe demo (e2e)",
    quiet: true,
  });
  await buildGpt2FixtureAtlas(join(atlases, GPT2_FIXTURE_ID), { quiet: true, root });
  // Hostile labels, tokens and region names (data/hostile, see scripts/make-hostile-dictionary.ts).
  await buildAtlas({
    dictionary: join(root, "data", "hostile"),
    out: join(atlases, HOSTILE_ID),
    id: HOSTILE_ID,
    description: HOSTILE_DESCRIPTION,
    quiet: true,
  });
  const astro = spawnSync(process.execPath, [join(root, "node_modules", "astro", "astro.js"), "build", "--silent", "--outDir", dist], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ATLAS_DIR: atlases },
  });
  if (astro.status !== 0) throw new Error(`astro build failed:\n${astro.stdout}\n${astro.stderr}`);
  const server = await serveStatic(dist, 0);
  process.env.E2E_BASE_URL = server.url;
  process.env.E2E_WORK_DIR = work;
  return async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  };
}
