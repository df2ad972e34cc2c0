/**
 * Feature splitting across widths: the contract between `precompute/splits/` (which writes it)
 * and the site (which shows it). When a site holds two dictionaries of the same model and hook
 * point at different widths, every feature of each is matched with its nearest features by
 * decoder cosine in the other: the "children" a small feature splits into in the large
 * dictionary, and the "parents" a large feature merges into in the small one.
 *
 * Atlases stay single-dictionary and immutable; the matches of one pair are a site-level folder
 * beside them:
 *
 *   <atlas root>/splits/<small>--<large>/
 *     splits.json                        written last: a folder without it is incomplete
 *     small/<first>.<hash>.json          partners of the small atlas's features (its children)
 *     large/<first>.<hash>.json          partners of the large atlas's features (its parents)
 *
 * Atlas ids are slugs with single hyphens, so `<small>--<large>` can never be an atlas id, and the
 * folder is published at `/splits/<small>--<large>/`. Shards cover contiguous id ranges like
 * feature shards, so the map fetches the one that holds the selected feature.
 *
 * `splits.json` records the sha256 of both atlases' `manifest.json`: rebuilding either atlas
 * changes its manifest, and the site then leaves the stale pair out (with a warning) rather than
 * link features by ids that may now mean something else.
 */

import { z } from "zod";
import { FORMAT_VERSION, slugSchema } from "./atlas.ts";

/** Version of the splits format; bump on any change an older reader would misread. */
export const SPLITS_FORMAT_VERSION = 1 as const;

/** Folder under the atlas root (and path under the site's base URL) holding every pair. */
export const SPLITS_DIR = "splits";

/** Name of the entry file of a pair folder, written last. */
export const SPLITS_ENTRY = "splits.json";

/** Folder name of a pair: `<small>--<large>`. */
export function splitsPairName(small: string, large: string): string {
  return `${small}--${large}`;
}

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "must be a lowercase hex sha256");
const relPathSchema = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "must be a relative path inside the pair folder");
const featureIdSchema = z.number().int().nonnegative();

/** A feature's match in the other dictionary of the pair. */
export const splitPartnerSchema = z.object({
  /** Feature id in the other atlas. */
  id: featureIdSchema,
  /** Cosine similarity of the two decoder rows, in [−1, 1], computed exactly (float64 dot of the float32 unit rows), rounded to 4 decimals. */
  cosine: z.number().min(-1.0001).max(1.0001),
  /**
   * True when the match is mutual: this feature is also the partner's own nearest feature in this
   * dictionary. For a small feature, its mutual children are the large features that "belong" to
   * it (whose best parent it is); the other children are nearer to some other small feature.
   */
  mutual: z.boolean(),
  /** The partner's label in its atlas, copied so a page or the map needs one file; null when unlabelled. */
  label: z.string().nullable(),
  /** The partner's layout position in its own atlas, in [0, 1]² (not this atlas's layout), rounded to 4 decimals. */
  x: z.number(),
  y: z.number(),
});
export type SplitPartner = z.infer<typeof splitPartnerSchema>;

/** One shard: partners of features [first, first + features.length) of one side. */
export const splitShardSchema = z.object({
  splitsFormatVersion: z.literal(SPLITS_FORMAT_VERSION),
  /** First feature id in the shard. */
  first: featureIdSchema,
  /**
   * Per feature in id order: its partners in the other atlas — its `k` nearest, plus every
   * feature whose own nearest it is (`mutual`), so a small feature lists all the large features
   * that split off from it — most similar first (cosine descending, ties by id), at most 64.
   * Empty for a dead feature (no direction).
   */
  features: z.array(z.array(splitPartnerSchema)),
});
export type SplitShard = z.infer<typeof splitShardSchema>;

/** One shard's place in `splits.json`. */
export const splitShardInfoSchema = z.object({
  /** First feature id in the shard. */
  first: featureIdSchema,
  /** Number of features in the shard (the last may be short). */
  count: z.number().int().positive(),
  /** Path relative to the pair folder. */
  path: relPathSchema,
});
export type SplitShardInfo = z.infer<typeof splitShardInfoSchema>;

/** One atlas of the pair, as it was when the matches were computed. */
export const splitSideSchema = z.object({
  /** Atlas id (its URL slug). */
  id: slugSchema,
  /** The atlas's title, for sentences like "in <title> this feature splits into …". */
  title: z.string().min(1),
  /** Number of features (= the dictionary's d_sae). */
  features: z.number().int().positive(),
  /** sha256 of the atlas's `manifest.json` bytes: a different manifest means the pair is stale. */
  manifestSha256: sha256Schema,
  /** sha256 of the weights file the decoder rows were read from (the manifest's `weights` input). */
  weightsSha256: sha256Schema,
  /** Shards of this side's features, by ascending `first`, together covering 0 … features − 1. */
  shards: z.array(splitShardInfoSchema).min(1),
});
export type SplitSide = z.infer<typeof splitSideSchema>;

/** `splits.json`: the entry file of a pair folder. */
export const splitsIndexSchema = z
  .object({
    splitsFormatVersion: z.literal(SPLITS_FORMAT_VERSION),
    /** Format version of the two atlases (both must have it). */
    atlasFormatVersion: z.literal(FORMAT_VERSION),
    /** Model both dictionaries read; null when the configs do not name it (then the pair was asked for explicitly). */
    model: z.string().nullable(),
    /** Hook point both dictionaries read; null when unknown (as for `model`). */
    hookName: z.string().nullable(),
    /** Width of the model activation both decoders write to. */
    dIn: z.number().int().positive(),
    /** Nearest partners kept per feature, in each direction (mutual ones come on top). Range 1–64, default 3. */
    k: z.number().int().min(1).max(64),
    /** The narrower dictionary (fewer features): its partners are children. */
    small: splitSideSchema,
    /** The wider dictionary: its partners are parents. */
    large: splitSideSchema,
    /** Every other file of the pair folder with its size and hash, sorted by path. */
    files: z.array(z.object({ path: relPathSchema, bytes: z.number().int().nonnegative(), sha256: sha256Schema })),
  })
  .refine((s) => s.small.features < s.large.features, "small must have fewer features than large")
  .refine((s) => s.small.id !== s.large.id, "small and large must be different atlases");
export type SplitsIndex = z.infer<typeof splitsIndexSchema>;
