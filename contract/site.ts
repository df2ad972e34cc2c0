/**
 * The site config: one file listing every dictionary of a site ("one site, many atlases").
 * `npm run atlas -- build --config <file>` builds each entry into `<atlasRoot>/<id>` (see
 * precompute/site.ts), and writes `<atlasRoot>/site.json` (siteFileSchema) for the site's title.
 *
 * Paths inside the config are relative to the folder holding the config file (absolute paths are
 * kept as they are), so a config can be run from any working directory. The demo's config is
 * `atlas.config.json` at the repository root.
 *
 * Example:
 *   {
 *     "title": "Feature Atlas",
 *     "atlases": [
 *       { "id": "demo", "dictionary": "data/demo", "title": "GloVe words · TopK SAE · 4,096 features",
 *         "description": "…", "build": { "seed": 42 } }
 *     ]
 *   }
 */
import { z } from "zod";
import { slugSchema } from "./atlas.ts";

const pathSchema = z.string().min(1, "must be a path");

/** Build options of one atlas; each defaults to the CLI's default (`npm run atlas -- --help`). */
export const siteBuildOptionsSchema = z.strictObject({
  /** Seed of every random choice in the build. Default 42. */
  seed: z.number().int().nonnegative().optional(),
  /** Neighbours per feature in the kNN graph, 2–100. Default 15. */
  k: z.number().int().min(2).max(100).optional(),
  /** UMAP `min_dist`, ≥ 0. Default 0.1. */
  minDist: z.number().nonnegative().optional(),
  /** UMAP epochs; 0 = umap-js' choice for the size. Default 0. */
  epochs: z.number().int().nonnegative().optional(),
  /** Points per map tile. Default 4096. */
  tileCapacity: z.number().int().positive().optional(),
  /** Features per feature shard. Default 256. */
  shardSize: z.number().int().positive().optional(),
  /** Features sampled to measure kNN recall. Default: 1000 up to 16,384 features, fewer above (at least 200). */
  recallSample: z.number().int().positive().optional(),
  /** Model width, to orient a bare .npy/.npz decoder matrix (needed when it is square). Default: from the shapes. */
  dModel: z.number().int().positive().optional(),
  /** Keep decoder rows holding NaN/±Infinity as dead features instead of refusing the dictionary. Default false. */
  dropNonFinite: z.boolean().optional(),
});
export type SiteBuildOptions = z.infer<typeof siteBuildOptionsSchema>;

/** One atlas of the site. */
export const siteAtlasSchema = z.strictObject({
  /** Atlas id: the URL slug (`/<id>/…`) and the folder name under the atlas root. Never change it once links are out. */
  id: slugSchema,
  /** The dictionary: a SAELens / sparsify folder, a Gemma Scope params.npz, or a .npy/.npz matrix. Relative to the config file. */
  dictionary: pathSchema,
  /** Human title shown on the home page and in the header. */
  title: z.string().min(1, "must not be empty"),
  /** One or two sentences for the home page and link previews. Default "". */
  description: z.string().default(""),
  /**
   * Label files (JSON, JSONL, CSV, Neuronpedia explanations), in priority order. Default: the
   * Neuronpedia export's explanations when `neuronpedia` is set, else `labels.{json,jsonl,csv}`
   * beside the dictionary.
   */
  labels: z.array(pathSchema).optional(),
  /**
   * Activation files or folders (SAEDashboard / Neuronpedia). Default: the Neuronpedia export's
   * features and activations when `neuronpedia` is set, else `activations.json[.gz]` beside the dictionary.
   */
  activations: z.array(pathSchema).optional(),
  /**
   * A Neuronpedia export folder (`features/`, `explanations/`, `activations/` of
   * `batch-<n>.jsonl.gz`): labels from its explanations (best-scored first, the others kept),
   * density, logits, histograms and top examples from the rest. Default: none.
   */
  neuronpedia: pathSchema.optional(),
  /** Build options (seed, k, …). Default: the CLI defaults. */
  build: siteBuildOptionsSchema.default({}),
});
export type SiteAtlas = z.infer<typeof siteAtlasSchema>;

/** The site config file. */
export const siteConfigSchema = z
  .strictObject({
    /** Optional JSON-schema pointer for editors; ignored. */
    $schema: z.string().optional(),
    /** Site title: the home page heading and `<title>`. Default "Feature Atlas". */
    title: z.string().min(1, "must not be empty").default("Feature Atlas"),
    /** One or two sentences under the home page heading. Default: a generic sentence (see src/pages/index.astro). */
    description: z.string().optional(),
    /**
     * Where the atlases are written, as `<atlasRoot>/<id>`, relative to the config file. Default
     * `atlases`. `--out` on the command line overrides it.
     */
    atlasRoot: pathSchema.default("atlases"),
    /** The atlases, built in this order (the home page groups them by model and hook point). At least one. */
    atlases: z.array(siteAtlasSchema).min(1, "must list at least one atlas"),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.atlases.forEach((a, i) => {
      const first = seen.get(a.id);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: ["atlases", i, "id"], message: `"${a.id}" is also the id of atlases.${first}; ids must be unique` });
      } else seen.set(a.id, i);
    });
  });
export type SiteConfig = z.infer<typeof siteConfigSchema>;

/**
 * `<atlasRoot>/site.json`, written by `build --config`: what the site needs from the config.
 * The site reads it when present (src/lib/atlases.ts); without it the defaults apply.
 */
export const siteFileSchema = z.object({
  /** Site title. Default "Feature Atlas". */
  title: z.string().min(1),
  /** Home page description; null for the default sentence. */
  description: z.string().nullable(),
  /** Ids of the config's atlases in config order; the home page shows atlases in this order, others after them by id. */
  atlases: z.array(slugSchema),
});
export type SiteFile = z.infer<typeof siteFileSchema>;

/**
 * Parse a site config, naming the file, the entry and the field in every problem, e.g.
 * `atlas.config.json is not a valid site config:\n  atlases.1 ("demo-16k").dictionary: must be a path`.
 */
export function parseSiteConfig(data: unknown, where: string): SiteConfig {
  const result = siteConfigSchema.safeParse(data);
  if (result.success) return result.data;
  const atlases = (data as { atlases?: unknown } | null)?.atlases;
  const lines = result.error.issues.slice(0, 8).map((issue) => {
    const path = issue.path.map(String);
    // Name the entry by its id as well as its index: "atlases.1" alone sends people counting.
    if (path[0] === "atlases" && path.length > 1 && Array.isArray(atlases)) {
      const id = (atlases[Number(path[1])] as { id?: unknown } | undefined)?.id;
      if (typeof id === "string") path[1] = `${path[1]} (${JSON.stringify(id)})`;
    }
    return `  ${path.length ? path.join(".") : "(root)"}: ${issue.message}`;
  });
  const more = result.error.issues.length > 8 ? `\n  … and ${result.error.issues.length - 8} more` : "";
  throw new Error(`${where} is not a valid site config:\n${lines.join("\n")}${more}`);
}
