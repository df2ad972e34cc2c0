/**
 * The atlas format: the one contract between `precompute/` (which writes an atlas) and `src/`
 * (which reads it). Everything an atlas folder holds is described here as a zod schema, and the
 * TypeScript types are derived from the schemas, so the two sides cannot drift apart.
 *
 * An atlas folder looks like this (every name except `manifest.json` carries a content hash, so a
 * file never changes under a cached URL):
 *
 *   manifest.json                    written last: an atlas without it is incomplete
 *   tiles/<z>-<x>-<y>.<hash>.arrow   quadtree point tiles (Arrow IPC stream), see TILE_COLUMNS
 *   features/<first>.<hash>.json     feature shards: full records of a contiguous id range
 *   search/directory.<hash>.json     search directory: which chunk holds which range of terms
 *   search/<n>.<hash>.json           search chunks, one per range of index terms
 *   search/<n>-more-<k>.<hash>.json  further results of a very common term, fetched on demand
 *
 * Conventions used below:
 * - Ids are feature indices: row i of W_dec is feature i. They are never renumbered.
 * - Layout coordinates live in the unit square: x and y are in [0, 1], the layout is centred and
 *   its aspect ratio kept. y grows upwards (the map flips it for the screen).
 * - Density is the fraction of tokens on which a feature fires, in [0, 1]; `log10Density` is
 *   its base-10 logarithm as SAELens' `sparsity.safetensors` stores it.
 */

import { z } from "zod";
import { FORMAT_VERSION } from "./lookup.ts";

export { FORMAT_VERSION, shardFor } from "./lookup.ts";

/** A URL-safe identifier: lowercase letters, digits and single hyphens, 1–64 characters. */
export const slugSchema = z
  .string()
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, "must be lowercase letters, digits and single hyphens")
  .max(64);

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex sha256");
const relPathSchema = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "must be a relative path inside the atlas");
const featureIdSchema = z.number().int().nonnegative();

/** One file of the atlas, as listed in the manifest. */
export const atlasFileSchema = z.object({
  /** Path relative to the atlas folder, with `/` separators. */
  path: relPathSchema,
  /** Size in bytes. */
  bytes: z.number().int().nonnegative(),
  /** sha256 of the file's bytes, lowercase hex. */
  sha256: sha256Schema,
});
export type AtlasFile = z.infer<typeof atlasFileSchema>;

/** One input file the atlas was built from. Only the base name is kept, so builds on different machines agree. */
export const inputFileSchema = z.object({
  /** What the file contributed. */
  role: z.enum(["config", "weights", "sparsity", "labels", "activations", "other"]),
  /** Base name of the file, e.g. `sae_weights.safetensors`. */
  name: z.string().min(1),
  /** Size in bytes. */
  bytes: z.number().int().nonnegative(),
  /** sha256 of the file's bytes, lowercase hex. */
  sha256: sha256Schema,
});
export type InputFile = z.infer<typeof inputFileSchema>;

/** What is known about the dictionary itself, mostly from its `cfg.json`. */
export const dictionaryInfoSchema = z.object({
  /** The on-disk layout the dictionary was read from. */
  format: z.enum(["saelens", "sparsify", "gemma-scope", "npy"]),
  /** SAE architecture, e.g. `standard`, `topk`, `jumprelu`, `gated`, `transcoder`. Default `standard`. */
  architecture: z.string().default("standard"),
  /** Model the dictionary was trained on, e.g. `gpt2-small`; null when unknown. */
  model: z.string().nullable(),
  /** Hook point, e.g. `blocks.7.hook_resid_pre`; null when unknown. */
  hookName: z.string().nullable(),
  /** Width of the model activation the decoder writes to (columns of W_dec). */
  dIn: z.number().int().positive(),
  /** Number of features (rows of W_dec). */
  dSae: z.number().int().positive(),
  /** Storage dtype of W_dec in the input, e.g. `F32`, `F16`, `BF16`. */
  dtype: z.string(),
  /** TopK's k, when the architecture has one; null otherwise. */
  k: z.number().int().positive().nullable(),
  /** Neuronpedia source id (`<model>/<source>`), when the config names one; null otherwise. */
  neuronpediaId: z.string().nullable(),
  /** The config exactly as read (v6 and pre-6 SAELens forms are both kept verbatim), for the citation block. */
  rawConfig: z.record(z.string(), z.unknown()),
});
export type DictionaryInfo = z.infer<typeof dictionaryInfoSchema>;

/** Parameters that, with the inputs, fully determine the atlas bytes. */
export const buildParamsSchema = z.object({
  /** Seed of every random choice in the build (HNSW level draws, UMAP, tile shuffles). Default 42. */
  seed: z.number().int().nonnegative(),
  /** kNN graph parameters. */
  knn: z.object({
    /** Neighbours per feature, not counting itself. Range 2–100, default 15. */
    k: z.number().int().min(2).max(100),
    /** HNSW `M` (links per node). Default 16. Present only when HNSW built the graph (always, in manifests older than `engine`). */
    m: z.number().int().positive().optional(),
    /** HNSW `efConstruction`. Default 200. Present only when HNSW built the graph. */
    efConstruction: z.number().int().positive().optional(),
    /** HNSW `ef` at query time. Default 64 (raised to k+1 when smaller). Present only when HNSW built the graph. */
    efSearch: z.number().int().positive().optional(),
    /**
     * The engine that actually chose the neighbours, with the parameters it ran with (absent in
     * older manifests, which always used HNSW). Thread counts are not recorded: they do not change
     * the graph.
     */
    engine: z
      .discriminatedUnion("name", [
        z.object({
          /** hnswlib-node, one thread (used up to 5,000 alive features). */
          name: z.literal("hnsw"),
          m: z.number().int().positive(),
          efConstruction: z.number().int().positive(),
          efSearch: z.number().int().positive(),
        }),
        z.object({
          /** Brute force: every alive feature against every other (used above 5,000 and up to 2^35 alive² × d). Recall 1. */
          name: z.literal("exact"),
        }),
        z.object({
          /** Spherical k-means cells searched with exact angular pruning (precompute/neighbours/partitions.ts). */
          name: z.literal("partitioned"),
          /**
           * Dots that chose the candidates: "float32", or "int8" (rows quantised per row to 8 bits;
           * used from 2^25 values n × d up). Every stored distance is exact float64 either way.
           */
          precision: z.enum(["float32", "int8"]),
          /** k-means cells (default ⌈√alive⌉). */
          cells: z.number().int().positive(),
          /** Most points one point is compared with. */
          maxCandidates: z.number().int().positive(),
          /** Most of those from cells the point lies outside of. */
          farCandidates: z.number().int().positive(),
          /** Candidates tracked per point and re-ranked exactly (k + 4 with float32, k + 16 with int8). */
          tracked: z.number().int().positive(),
          /**
           * Rounds of neighbour-of-neighbour refinement run after the search (1–3), because the
           * measured recall was below 0.95 (precompute/neighbours/refine.ts). Absent: none ran.
           */
          refineRounds: z.number().int().positive().optional(),
        }),
      ])
      .optional(),
  }),
  /** UMAP parameters (umap-js). */
  umap: z.object({
    /** Neighbours UMAP uses, including the point itself as neighbour 0; equals knn.k + 1. */
    nNeighbors: z.number().int().min(2),
    /** UMAP `minDist`, in layout units before normalisation. Default 0.1. */
    minDist: z.number().nonnegative(),
    /** UMAP `spread`. Default 1. */
    spread: z.number().positive(),
    /** Optimisation epochs; 0 means umap-js' default for the dataset size. */
    nEpochs: z.number().int().nonnegative(),
    /**
     * The subset fit (precompute/layout/subset-fit.ts), used for graphs of at least `from`
     * connected points that the typed engine lays out (above 2,048 points): UMAP on a seeded `share` of them, the others placed from their
     * neighbours, then the last `fineEpochs` epochs of the schedule on all of them. Absent (the
     * default): every graph is fitted whole.
     */
    subsetFit: z
      .object({
        /** Connected points from which the subset fit is used (suggested: 524,288). */
        from: z.number().int().positive(),
        /** Share of the points fitted first, in (0, 1) (suggested: 0.25). */
        share: z.number().gt(0).lt(1),
        /** Epochs of the whole graph after the subset's fit, at most the schedule's length (suggested: 30). */
        fineEpochs: z.number().int().positive(),
      })
      .optional(),
  }),
  /** Most rows a tile holds before the rest go to its children. Default 4096. */
  tileCapacity: z.number().int().positive(),
  /** Features per feature shard. Default 256. */
  shardSize: z.number().int().positive(),
  /** Neighbours stored per feature in its shard record (≤ knn.k). Default 12. */
  storedNeighbours: z.number().int().nonnegative(),
  /** Top examples stored per feature (the rest of the input is dropped). Default 20. */
  storedExamples: z.number().int().nonnegative(),
});
export type BuildParams = z.infer<typeof buildParamsSchema>;

/**
 * The columns of every tile, in order. Row order within the quadtree is the level of detail: the
 * tiler inserts points in a seeded, importance-weighted random order (labelled and frequently
 * firing features weigh up to 3× the others) and each tile keeps the first `tileCapacity` that
 * reach it, so every tile, and every prefix of a tile, is a weighted random sample of its square.
 */
export const TILE_COLUMNS = {
  /** Feature id. Arrow Uint32. */
  id: "Uint32",
  /**
   * Layout x, quantised within the tile's own square (format version 2; Float32 layout units in
   * version 1). Arrow Uint16, 0–65535: x = x0 + x_q / 65535 × 2^−z, where [x0, x0 + 2^−z] is the
   * x-extent of `tileBounds(key)`. One step is 2^−z / 65535 layout units (1.5e−5 at the root,
   * 9.5e−7 at z 4) and a decoded value is within half a step of the layout position. Decode with
   * `decodeTileCoords` (contract/tile-coords.ts), which rounds to Float32.
   */
  x: "Uint16",
  /** Layout y (growing upwards), quantised like x within the tile's square's y-extent. Arrow Uint16, 0–65535. */
  y: "Uint16",
  /** log10 of the firing density; NaN when unknown. Arrow Float32. */
  log10Density: "Float32",
  /** The feature's label; empty string when it has none. Arrow Utf8. */
  label: "Utf8",
} as const;
export type TileColumn = keyof typeof TILE_COLUMNS;

/** One node of the quadtree of point tiles. */
export const tileSchema = z.object({
  /** Tile key `z/x/y`; see `contract/tile-keys.ts`. The root is `0/0/0` and covers the unit square. */
  key: z.string().regex(/^\d+\/\d+\/\d+$/),
  /** Path of the Arrow IPC stream file, relative to the atlas folder. */
  path: relPathSchema,
  /** Number of rows (points) in this tile alone, not counting descendants. */
  rows: z.number().int().positive(),
  /** Number of points in this tile and all its descendants. */
  totalRows: z.number().int().positive(),
  /** Tight bounds of this tile's own points as decoded (see TILE_COLUMNS.x): [minX, minY, maxX, maxY] in layout units. */
  extent: z.tuple([z.number(), z.number(), z.number(), z.number()]),
});
export type TileInfo = z.infer<typeof tileSchema>;

/** One feature shard file: the full records of features [first, first + count). */
export const shardInfoSchema = z.object({
  /** First feature id in the shard. */
  first: featureIdSchema,
  /** Number of features in the shard (the last shard may be short). */
  count: z.number().int().positive(),
  /** Path relative to the atlas folder. */
  path: relPathSchema,
});
export type ShardInfo = z.infer<typeof shardInfoSchema>;


/** recall@k of the approximate kNN graph, measured against exact brute-force search on a sample. */
export const knnRecallSchema = z.object({
  /** k used for the measurement (the graph's k). */
  k: z.number().int().positive(),
  /** Number of features sampled (seeded). */
  sample: z.number().int().nonnegative(),
  /** Mean fraction of the exact k nearest found by the graph, in [0, 1]. */
  recall: z.number().min(0).max(1),
});

// ---------------------------------------------------------------------------------------------
// Regions: named neighbourhoods of the map at every zoom level (precompute/regions/).
//
// Files (listed in the manifest's `regions`):
//   regions/<level>.<hash>.json      one per level, 0 = coarsest: that level's regions (regionLevelFileSchema)
//   regions/members.<hash>.json      the finest region of every feature (regionMembersFileSchema)
// Levels nest exactly: every region of level L + 1 lies inside one region of level L, and each
// level covers every alive feature once. Dead features belong to no region.
// ---------------------------------------------------------------------------------------------

const pointSchema = z.tuple([z.number(), z.number()]);

/** One region of the map. */
export const regionSchema = z.object({
  /** `<level>-<index>`, e.g. `2-137`: unique in the atlas but renumbered by every build; link by `slug`. */
  id: z.string().regex(/^\d+-\d+$/),
  /** 0 = coarsest (a handful of regions); the finest level has regions of about 5–30 features. */
  level: z.number().int().nonnegative(),
  /** Position within its level's file. Regions are grouped by parent, then by size (largest first). */
  index: z.number().int().nonnegative(),
  /** Id of the enclosing region one level up; null at level 0. */
  parent: z.string().regex(/^\d+-\d+$/).nullable(),
  /** Number of regions one level down inside this one (0 at the finest level). */
  children: z.number().int().nonnegative(),
  /** Number of member features. */
  members: z.number().int().positive(),
  /** Mean position of the region's core members (outliers left out), in layout units: a place for its name. */
  centroid: pointSchema,
  /** [minX, minY, maxX, maxY] of the core members, in layout units: where to zoom to show the region. */
  bounds: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  /** Convex outline of the core members, counter-clockwise, at most 32 points (fewer than 3 for tiny regions). */
  hull: z.array(pointSchema),
  /** Display name: automatic ("storms · hurricane · coast", lowercase terms joined by " · ") or hand-written. */
  name: z.string().min(1),
  /** URL slug, unique among all regions of the atlas, kept across rebuilds when the region keeps most of its members. */
  slug: slugSchema,
  /** Whether `name` was made from the labels ("auto") or written by a person ("manual", from regions.names.json). */
  nameSource: z.enum(["auto", "manual"]),
  /** The label terms behind the automatic name, most distinctive first (also for manual names). */
  terms: z.array(z.string()),
  /** Up to 12 member ids closest to the region's mean decoder direction, closest first: its most typical features. */
  top: z.array(featureIdSchema),
  /** Mean cosine between the members' decoder rows and their mean direction, in [0, 1]: how tight the region is. */
  cohesion: z.number().min(0).max(1),
});
export type Region = z.infer<typeof regionSchema>;

/** `regions/<level>.<hash>.json`: the regions of one level. */
export const regionLevelFileSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  level: z.number().int().nonnegative(),
  /** This level's regions, by `index`. */
  regions: z.array(regionSchema),
});
export type RegionLevelFile = z.infer<typeof regionLevelFileSchema>;

/**
 * `regions/members.<hash>.json`: membership of every feature. `leaf[id]` is the index (within the
 * finest level) of the feature's finest region, or −1 for a dead feature; its region at a coarser
 * level is found by following `parent`. One number per feature, so it stays small at 1M features.
 */
export const regionMembersFileSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** Number of levels; the finest is levels − 1. */
  levels: z.number().int().positive(),
  leaf: z.array(z.number().int().min(-1)),
});
export type RegionMembersFile = z.infer<typeof regionMembersFileSchema>;

/** Measured quality of one level of regions (for the manifest's `quality` and the build summary). */
export const regionLevelQualitySchema = z.object({
  level: z.number().int().nonnegative(),
  regions: z.number().int().nonnegative(),
  medianSize: z.number().nonnegative(),
  /** Mean cosine between decoder rows of two features of one region (sampled pairs). */
  within: z.number(),
  /** Mean cosine between decoder rows of two features of different regions (sampled pairs). */
  between: z.number(),
  /** Mean share of a feature's 10 nearest map neighbours that are in its region. */
  layoutPurity: z.number().min(0).max(1),
});
export type RegionLevelQuality = z.infer<typeof regionLevelQualitySchema>;

/**
 * The manifest's `regions` entry (null when a build has no regions).
 */
export const regionsInfoSchema = z.object({
  /** One file per level, coarsest first; `levels[l].level === l`. */
  levels: z.array(
    z.object({
      level: z.number().int().nonnegative(),
      /** Number of regions at this level. */
      count: z.number().int().positive(),
      path: relPathSchema,
    }),
  ),
  /** The regionMembersFileSchema file. */
  members: relPathSchema,
  /**
   * The regionRedirectsFileSchema file (`regions/redirects.<hash>.json`): old region slugs and
   * where they lead now. Absent when there are none, which reads as an empty list. Default: absent.
   */
  redirects: relPathSchema.optional(),
});
export type RegionsInfo = z.infer<typeof regionsInfoSchema>;

/**
 * One old region URL that leads somewhere else now: `/<atlas>/region/<from>/` → `/<atlas>/region/<to>/`.
 * Slugs are kept across builds when a region keeps most of its members, so an old slug is left
 * behind only when a region was renamed by hand with a new `slug` in regions.names.json (`to` is
 * its new slug), or when no region of the new build matches it (`to` is the region of the same
 * level, or the finest level when the new build has fewer levels, holding most of its members).
 */
export const regionRedirectSchema = z.object({
  /** A slug an earlier build of this atlas gave a region and this build gives to none. */
  from: slugSchema,
  /** A slug of this build (always live: chains of renames are collapsed, never to `from`). */
  to: slugSchema,
});
export type RegionRedirect = z.infer<typeof regionRedirectSchema>;

/**
 * `regions/redirects.<hash>.json`: every old region slug of the atlas, carried forward from build
 * to build (a later build drops a `from` that is a live slug again, and points old entries past
 * any further rename, so each lookup is one step). Kept out of the manifest, which the map page
 * fetches, because the list only grows.
 */
export const regionRedirectsFileSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** Sorted by `from` (code-unit order), each `from` once. Default [] (no file). */
  redirects: z.array(regionRedirectSchema),
});
export type RegionRedirectsFile = z.infer<typeof regionRedirectsFileSchema>;

/** `manifest.json`: the entry file of an atlas, written last. */
export const manifestSchema = z.object({
  /** Atlas format version; must equal FORMAT_VERSION. */
  formatVersion: z.literal(FORMAT_VERSION),
  /** Atlas id, used in URLs (`/<id>/feature/<n>/`). Never change it once links are out. */
  id: slugSchema,
  /** Human title, e.g. "GloVe TopK SAE, 4,096 features". */
  title: z.string().min(1),
  /** One or two sentences about the dictionary, for the home page and previews. Default "". */
  description: z.string(),
  /** Version of the feature-atlas package that wrote the atlas. */
  generator: z.string(),
  /** What the dictionary is. */
  dictionary: dictionaryInfoSchema,
  /** Counts of features. */
  counts: z.object({
    /** All features, = dictionary.dSae. */
    features: z.number().int().nonnegative(),
    /** Features with an all-zero or non-finite decoder row; they are kept but left out of the kNN graph. */
    dead: z.number().int().nonnegative(),
    /** Features with a label. */
    labelled: z.number().int().nonnegative(),
    /** Features with at least one top example. */
    withExamples: z.number().int().nonnegative(),
    /** Features with a known density. */
    withDensity: z.number().int().nonnegative(),
  }),
  /** Build parameters. */
  params: buildParamsSchema,
  /** Input files, with their hashes. Sorted by role, then name. */
  inputs: z.array(inputFileSchema),
  /** Measured quality of the build. */
  quality: z.object({
    /** recall@k of the kNN graph. */
    knnRecall: knnRecallSchema,
    /** Per level of regions: counts, median size, and cosine within vs between regions. Empty without regions. */
    regions: z.array(regionLevelQualitySchema),
  }),
  /**
   * How much the dictionary fires, from the feature densities, for the home page. Absent in
   * atlases built before it was added.
   */
  activity: z
    .object({
      /**
       * Expected L0, the mean number of features firing on a token: the sum of all densities.
       * Null unless every feature's density is known (a partial sum would understate it).
       */
      meanL0: z.number().nonnegative().nullable(),
      /** Median firing density over the features whose density is known, in [0, 1]; null when none is. */
      medianDensity: z.number().min(0).max(1).nullable(),
    })
    .optional(),
  /** Bounds of all points in layout units: [minX, minY, maxX, maxY], inside [0, 1]². */
  bounds: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  /** Point tiles, parents before children (breadth-first, then by key). */
  tiles: z.array(tileSchema).min(1),
  /** Feature shards, by ascending `first`; together they cover ids 0 … counts.features − 1. */
  shards: z.array(shardInfoSchema),
  /** Named regions at every zoom level; null when the build made none. */
  regions: regionsInfoSchema.nullable(),
  /** Search index: a small directory file that routes each term to its chunk (see searchDirectorySchema). */
  search: z.object({
    /** Index layout: sorted keys, each with per-word posting lists (see SearchChunk; format version 3 and up). */
    engine: z.literal("terms"),
    /** Path of the directory file, relative to the atlas folder. */
    directory: relPathSchema,
    /** Number of chunk files (`directory.chunks.length`). */
    chunks: z.number().int().nonnegative(),
    /** Distinct index terms (encoded keys) over all labels. */
    terms: z.number().int().nonnegative(),
    /** Features indexed (those whose label has at least one term). */
    features: z.number().int().nonnegative(),
  }),
  /**
   * Where the list of every other file of the atlas (sizes and sha256) is: a file of its own
   * (atlasFileListSchema), since the map and the fallback page fetch the manifest first and the
   * list is what grows with the atlas (1.4 MB of a 1.5 MB manifest at 1M features).
   */
  files: z.object({
    /** Path of the list, relative to the atlas folder (`files.<hash>.json`). */
    path: relPathSchema,
    /** Files it lists: every file of the atlas except the manifest and the list itself. */
    count: z.number().int().nonnegative(),
    /** Their total size, bytes. */
    bytes: z.number().int().nonnegative(),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** `files.<hash>.json`: every file of the atlas but the manifest and this one, with sizes and hashes. */
export const atlasFileListSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** Sorted by path (code-unit order). */
  files: z.array(atlasFileSchema),
});
export type AtlasFileList = z.infer<typeof atlasFileListSchema>;

/** One token-level example (a text window) on which the feature fired. */
export const exampleSchema = z.object({
  /** Token strings as the model's tokenizer printed them (GPT-2 `Ġ` prefixes already turned into spaces). */
  tokens: z.array(z.string()),
  /** Activation of the feature at each token; same length as `tokens`. */
  values: z.array(z.number()),
  /** Index of the token with the largest activation. */
  maxIndex: z.number().int().nonnegative(),
  /** Largest activation in the window. */
  maxValue: z.number(),
  /**
   * The quantile group the example was sampled from, when the input has groups (SAEDashboard):
   * null for "top activations", otherwise [binMin, binMax] of the activation interval.
   */
  bin: z.tuple([z.number(), z.number()]).nullable(),
});
export type Example = z.infer<typeof exampleSchema>;

/** Activation histogram of one feature: see `featureRecordSchema.histogram`. */
export const histogramSchema = z
  .object({
    heights: z.array(z.number().nonnegative()).min(1),
    values: z.array(z.number()).min(1),
  })
  .refine((h) => h.heights.length === h.values.length, "heights and values must have the same length");
export type Histogram = z.infer<typeof histogramSchema>;

/** A token and its effect on the output logits. */
export const logitSchema = z.object({ token: z.string(), value: z.number() });

/** The full record of one feature, as stored in its shard. */
export const featureRecordSchema = z.object({
  /** Feature id (row of W_dec). */
  id: featureIdSchema,
  /** Label; null when the input has none. */
  label: z.string().nullable(),
  /** Where the label came from, e.g. the labels file name or an explanation model. Null when no label. */
  labelSource: z.string().nullable(),
  /**
   * Other labels the input offered, best first: a Neuronpedia feature's other explanations (by
   * score, see precompute/read/labels.ts), or labels of later label files. The feature page lists
   * them under "Other explanations". Default [].
   */
  otherLabels: z.array(z.string()),
  /** Firing density in [0, 1]; null when unknown. */
  density: z.number().min(0).max(1).nullable(),
  /** L2 norm of the decoder row as read, before normalisation. */
  decoderNorm: z.number().nonnegative(),
  /** True when the decoder row is all-zero or not finite: left out of the kNN graph. */
  dead: z.boolean(),
  /** Layout position in [0, 1]². */
  x: z.number(),
  y: z.number(),
  /** Nearest features by decoder cosine, most similar first, without the feature itself. */
  neighbours: z.array(
    z.object({
      id: featureIdSchema,
      /** Cosine similarity of the two decoder rows, in [−1, 1]. */
      cosine: z.number().min(-1.0001).max(1.0001),
      /** The neighbour's label, copied here so that a page or panel needs one shard only. */
      label: z.string().nullable(),
    }),
  ),
  /** Top-activating examples, strongest first. Default []. */
  examples: z.array(exampleSchema),
  /** Output tokens the feature promotes (positive) and suppresses (negative), when the input has them. */
  logits: z.object({ positive: z.array(logitSchema), negative: z.array(logitSchema) }).nullable(),
  /**
   * Histogram of the feature's non-zero activations over the tokens the input sampled (SAEDashboard /
   * Neuronpedia `freq_hist_data_bar_heights` / `freq_hist_data_bar_values`), when the input has one.
   * Bars are equally wide; `values[i]` is the centre of bar i in activation units (the same units as
   * `examples[].values`), ascending; `heights[i]` is the number of sampled tokens whose activation fell
   * in bar i (a count, ≥ 0). Both lists have the same length (≥ 1). Absent or null when unknown.
   */
  histogram: histogramSchema.nullable().optional(),
});
export type FeatureRecord = z.infer<typeof featureRecordSchema>;

/** One feature shard file. */
export const featureShardSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** First feature id in the shard. */
  first: featureIdSchema,
  /** Records of features first … first + features.length − 1, in id order. */
  features: z.array(featureRecordSchema),
});
export type FeatureShard = z.infer<typeof featureShardSchema>;

/**
 * How label words become index keys, used both to build the search index and to query it:
 * flexsearch 0.8's `Encoder` with its `LatinBalance` charset spelled out, so that the format does
 * not change with a flexsearch upgrade. Letters that sound alike map to one (b→p, v/w→f, z/x→s,
 * d→t, n→m, c/g/j/q→k, i/y→e, u→o), then repeated letters collapse, which forgives many
 * misspellings ("lirical" = "lyrical", "hurrycane" = "hurricane"). `numeric: false` keeps numbers
 * whole (by default flexsearch splits "2024" into "202 4"). Chunk ranges are in this encoded form.
 */
export const SEARCH_ENCODER_OPTIONS = {
  numeric: false,
  mapper: new Map([
    ["b", "p"], ["v", "f"], ["w", "f"], ["z", "s"], ["x", "s"], ["d", "t"], ["n", "m"],
    ["c", "k"], ["g", "k"], ["j", "k"], ["q", "k"], ["i", "e"], ["y", "e"], ["u", "o"],
  ]),
} as const;

/**
 * The search directory (`search/directory.<hash>.json`): the only file a browser fetches before
 * the first query. Chunk i holds every index key k with chunks[i][0] ≤ k < chunks[i + 1][0]
 * (UTF-16 code unit order); the first chunk's bound is "". Bounds are cut short, as Pagefind does,
 * to the shortest prefix of the chunk's first key that still sorts after the previous chunk's
 * last key, which keeps the directory small (about 45 bytes a chunk).
 */
export const searchDirectorySchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /** [lower bound, path of the chunk file relative to the atlas folder], sorted by bound, bounds distinct. */
  chunks: z.array(z.tuple([z.string(), relPathSchema])),
});
export type SearchDirectory = z.infer<typeof searchDirectorySchema>;

/**
 * A feature as a search file carries it: [rank, id, label]. The rank is the feature's place in
 * one atlas-wide importance order (fewer label terms first, then higher density, then smaller
 * id; 0 = most important), so posting lists, which hold ranks, sort by importance, and lists from
 * different files merge without more data. "Label terms" counts distinct index keys.
 */
export const searchFeatureSchema = z.tuple([z.number().int().nonnegative(), featureIdSchema, z.string()]);

/**
 * One word form of an index key: [word, postings, first postings (ranks), paths of the further
 * pages]. The word is a `searchTerms` token whose key is the entry's (e.g. "they" under key
 * "the"); the postings are the features whose label holds that word. Order: features whose whole
 * label is the word (a label equal to a one-word query) first, then by ascending rank; the first
 * postings are the head of that order and the pages (SearchMorePage) hold the rest, in order. A
 * key's forms are sorted by word and share one byte budget in the chunk, given out one posting
 * per form in turn, so each word of a common key keeps its own best postings. A feature whose
 * label holds two words of one key is listed under both.
 */
export const searchFormSchema = z.tuple([z.string().min(1), z.number().int().positive(), z.array(z.number().int().nonnegative()), z.array(relPathSchema)]);
export type SearchForm = z.infer<typeof searchFormSchema>;

/**
 * One search chunk (`search/<n>.<hash>.json`): the index keys of one directory range, each with
 * its posting list, plus the labels of every feature those lists name, so results show without
 * another fetch. Chunks stay under the build's byte cap (default 32 KB); only a single label
 * longer than the cap could exceed it, as labels are never cut here (the label reader already
 * limits them to 500 characters).
 */
export const searchChunkSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  /**
   * [key, postings of the key, its word forms]: every key of the range, sorted. The postings of a
   * key are split by the word (the `searchTerms` token, before encoding) that put the feature
   * there, so that a query reaches the features holding its own word even when a sound-alike
   * word of the same key is far more common ("the" and "they" are both key "the").
   */
  terms: z.array(z.tuple([z.string(), z.number().int().positive(), z.array(searchFormSchema)])),
  /**
   * [prefix, postings of all keys with the prefix, most important of them (ranks, ascending)],
   * sorted: for each prefix of this range whose keys run on into later chunks, so that a short
   * query ("s", "hur") is answered from this one chunk instead of every chunk it spans.
   */
  prefixes: z.array(z.tuple([z.string(), z.number().int().positive(), z.array(z.number().int().nonnegative())])),
  /** Every feature named in `terms` or `prefixes`, by ascending rank. */
  features: z.array(searchFeatureSchema),
});
export type SearchChunk = z.infer<typeof searchChunkSchema>;

/** A further page of one word form's postings (see searchFormSchema): its features, in the form's order. */
export const searchMorePageSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  features: z.array(searchFeatureSchema),
});
export type SearchMorePage = z.infer<typeof searchMorePageSchema>;

/**
 * Parse `data` with `schema`, turning zod's issues into one readable message that names the
 * file and the path inside it, e.g. `manifest.json: tiles.0.rows: expected number, received string`.
 */
export function parseWithFriendlyErrors<T extends z.ZodType>(schema: T, data: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const lines = result.error.issues.slice(0, 8).map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    return `  ${path}: ${issue.message}`;
  });
  const more = result.error.issues.length > 8 ? `\n  … and ${result.error.issues.length - 8} more` : "";
  throw new Error(`${where} does not match the atlas format v${FORMAT_VERSION}:\n${lines.join("\n")}${more}`);
}

/**
 * Check the format version before the full parse, so that an atlas from another version gets a
 * clear "rebuild it" message rather than a list of schema errors.
 */
export function parseManifest(data: unknown, where = "manifest.json"): Manifest {
  const version = (data as { formatVersion?: unknown } | null)?.formatVersion;
  if (version !== FORMAT_VERSION) {
    throw new Error(
      `${where} has formatVersion ${JSON.stringify(version)}, but this site reads version ${FORMAT_VERSION}. ` +
        `Rebuild the atlas with this version of feature-atlas (npm run atlas -- build …).`,
    );
  }
  return parseWithFriendlyErrors(manifestSchema, data, where);
}


/**
 * Split a label into index terms. Both the search build and the browser use this, so a query is
 * tokenised exactly as the index was. Lowercase, accents stripped, split on anything that is not a
 * letter or digit.
 */
export function searchTerms(text: string): string[] {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0);
}

// lookup.ts mirrors the shard entry without zod; this line fails to compile if the two drift.
const _shardInfoMirrors: [ShardInfo, import("./lookup.ts").ShardInfo] extends [import("./lookup.ts").ShardInfo, ShardInfo] ? true : never = true;
void _shardInfoMirrors;
