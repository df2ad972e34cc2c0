/**
 * The splits stage as a post-build step of a multi-atlas site build (`build --config`,
 * precompute/site.ts): once every atlas is built, match the features of every pair of atlases
 * with the same model and hook point at different widths (pairs.ts), into `<atlasRoot>/splits/`.
 * A pair whose two atlases and dictionaries are unchanged is kept as it is.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { buildAllSplits } from "./build-splits.ts";
import { formatBytes } from "../log.ts";

/** What the step needs of a site build's result (precompute/site.ts `SiteBuildResult`). */
export interface SplitsSiteInput {
  /** Absolute path of the config file: dictionary paths are relative to its folder. */
  configPath: string;
  atlasRoot: string;
  config: { atlases: readonly { id: string; dictionary: string }[] };
}

export const splitsPostBuildStep = {
  name: "Matching features across widths",
  run(site: SplitsSiteInput, log: (message: string) => void): void {
    const configDir = dirname(site.configPath);
    // Every atlas of the config that is built, not only those built now (`--only`): a rebuilt
    // atlas must be re-matched with its unchanged siblings, or their pair goes stale.
    const inputs = site.config.atlases
      .map((a) => ({ atlas: join(site.atlasRoot, a.id), dictionary: resolve(configDir, a.dictionary) }))
      .filter((a) => existsSync(join(a.atlas, "manifest.json")));
    const results = buildAllSplits(inputs, { root: site.atlasRoot, log, skipUpToDate: true });
    if (results.length === 0) log("  no two atlases share model and hook point at different widths");
    for (const r of results) {
      if (!r.skipped) log(`  ${r.index.small.id} → ${r.index.large.id}: ${formatBytes(r.bytes)}, exact search ${r.matchSeconds.toFixed(2)} s`);
    }
  },
};
