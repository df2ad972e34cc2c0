/**
 * The splits stage: for two atlases of the same model and hook point at different widths, write
 * the folder `<root>/splits/<small>--<large>/` (contract/splits.ts) matching every feature of each
 * with its nearest features in the other.
 *
 * Atlases do not keep decoder rows, so the stage reads both dictionaries again. It checks that
 * each is the very file its atlas was built from (the weights' sha256 in the manifest), so ids on
 * both sides mean what the atlases say. Labels and positions of the partners come from the
 * atlases' point tiles, which hold every feature once with exactly those columns.
 *
 * The folder is written like an atlas (write/atlas-writer.ts): into a temporary sibling, entry file
 * last, swapped in whole, so the site never sees half a pair. Same inputs and k give the same bytes.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { FORMAT_VERSION, parseManifest, parseWithFriendlyErrors, type Manifest } from "../../contract/atlas.ts";
import { decodeTileCoords } from "../../contract/tile-coords.ts";
import {
  SPLITS_DIR,
  SPLITS_ENTRY,
  SPLITS_FORMAT_VERSION,
  splitsIndexSchema,
  splitsPairName,
  type SplitPartner,
  type SplitSide,
  type SplitsIndex,
} from "../../contract/splits.ts";
import { readDictionary } from "../read/detect.ts";
import { InputError } from "../read/safetensors.ts";
import { AtlasWriter, sha256, stableJson } from "../write/atlas-writer.ts";
import { isMutual, matchWidths, type MatchSide } from "./match.ts";
import { findSplitPairs } from "./pairs.ts";

/** Nearest partners kept per feature and direction unless asked otherwise (mutual ones are added, see writeSide). */
export const DEFAULT_SPLITS_K = 3;
/** Most partners listed for one feature: k nearest plus mutual ones, cut here so no shard can balloon. */
export const MAX_PARTNERS = 64;
/** Features per splits shard unless asked otherwise: the atlases' own default shard size. */
export const DEFAULT_SPLITS_SHARD = 256;

/** One atlas of the pair and the dictionary it was built from. */
export interface SplitsInput {
  /** Atlas folder (holding manifest.json). */
  atlas: string;
  /** The dictionary folder or file the atlas was built from. */
  dictionary: string;
}

export interface BuildSplitsOptions {
  a: SplitsInput;
  b: SplitsInput;
  /** Atlas root: the pair goes to `<root>/splits/<small>--<large>/`. */
  root: string;
  k?: number;
  shardSize?: number;
  threads?: number;
  /** Pair the two even when their model or hook point differ or are unknown (d_in must still agree). */
  force?: boolean;
  /**
   * Keep an existing pair folder computed from the same two manifests and weights with the same k
   * and shard size (its entry file says so) instead of recomputing it. Default false.
   */
  skipUpToDate?: boolean;
  log?: (message: string) => void;
}

export interface BuildSplitsResult {
  index: SplitsIndex;
  /** The pair folder written. */
  dir: string;
  /** Bytes of every file written, entry included. */
  bytes: number;
  /** Seconds of the exact cross search (both directions); 0 when skipped. */
  matchSeconds: number;
  /** True when an up-to-date pair folder was kept (skipUpToDate). */
  skipped: boolean;
}

interface AtlasSide {
  dir: string;
  dictionary: string;
  manifest: Manifest;
  manifestSha256: string;
  weightsSha256: string;
}

function readAtlas(input: SplitsInput): AtlasSide {
  const dir = resolve(input.atlas);
  const path = join(dir, "manifest.json");
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new InputError(`${path}: no atlas here (manifest.json missing); build it first with \`npm run atlas -- build\``);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const manifest = parseManifest(json, path);
  const weights = manifest.inputs.find((f) => f.role === "weights");
  if (!weights) throw new InputError(`${path}: the manifest lists no weights input, so its dictionary cannot be checked`);
  return { dir, dictionary: resolve(input.dictionary), manifest, manifestSha256: sha256(bytes), weightsSha256: weights.sha256 };
}

/** Labels and positions of every feature, from the atlas's point tiles. */
function readPoints(side: AtlasSide): { labels: (string | null)[]; xy: Float64Array } {
  const n = side.manifest.counts.features;
  const labels: (string | null)[] = new Array<string | null>(n).fill(null);
  const xy = new Float64Array(2 * n).fill(Number.NaN);
  for (const tile of side.manifest.tiles) {
    const file = join(side.dir, tile.path);
    let table;
    try {
      table = tableFromIPC(readFileSync(file));
    } catch (e) {
      throw new InputError(`${file}: cannot read point tile ${tile.key} (${(e as Error).message})`);
    }
    const ids = table.getChild("id")?.toArray() as Uint32Array | undefined;
    const qx = table.getChild("x")?.toArray() as Uint16Array | undefined;
    const qy = table.getChild("y")?.toArray() as Uint16Array | undefined;
    const ls = table.getChild("label");
    if (!ids || !qx || !qy || !ls) throw new InputError(`${file}: point tile ${tile.key} lacks the id, x, y or label column`);
    const { x: xs, y: ys } = decodeTileCoords(tile.key, qx, qy);
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r]!;
      if (id >= n) throw new InputError(`${file}: point tile ${tile.key} row ${r} has feature id ${id}, but the atlas has ${n}`);
      xy[2 * id] = xs[r]!;
      xy[2 * id + 1] = ys[r]!;
      const label = ls.get(r) as string | null;
      labels[id] = label ? label : null;
    }
  }
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(xy[2 * i]!)) throw new InputError(`${side.dir}: feature ${i} is in no point tile`);
  }
  return { labels, xy };
}

/** Read one side's decoder, checking it is the dictionary the atlas was built from. */
function loadDecoder(side: AtlasSide, log: (m: string) => void): { decoder: Float32Array; n: number } {
  const info = side.manifest.dictionary;
  const dict = readDictionary(side.dictionary, { warn: (m) => log(`  warning: ${m}`), dModel: info.dIn });
  const weights = dict.inputs.find((f) => f.role === "weights");
  if (!weights || weights.sha256 !== side.weightsSha256) {
    throw new InputError(
      `${side.dictionary}: not the dictionary atlas "${side.manifest.id}" was built from ` +
        `(weights sha256 ${weights?.sha256.slice(0, 12) ?? "none"}…, the atlas's manifest says ${side.weightsSha256.slice(0, 12)}…); ` +
        `pass the dictionary the atlas was built from, or rebuild the atlas`,
    );
  }
  if (dict.info.dSae !== info.dSae || dict.info.dIn !== info.dIn) {
    throw new InputError(`${side.dictionary}: reads as ${dict.info.dSae} × ${dict.info.dIn}, but atlas "${side.manifest.id}" has ${info.dSae} × ${info.dIn}`);
  }
  return { decoder: dict.decoder, n: dict.info.dSae };
}

/**
 * Rounding for the JSON. Positions only arrange a constellation of partners around a point (the
 * other atlas's layout is not this map's), so 1e-4 of the unit square is plenty; cosines are shown
 * to two or three decimals.
 */
const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

function writeSide(
  writer: AtlasWriter,
  folder: "small" | "large",
  match: MatchSide,
  other: MatchSide,
  partnerPoints: { labels: (string | null)[]; xy: Float64Array },
  shardSize: number,
): SplitSide["shards"] {
  // Partners whose own nearest is feature i ("mutual"): for a small feature, exactly the large
  // features that split off from it. They are listed even when they are not among its k nearest,
  // so "splits into" names all of them, however many there are (up to MAX_PARTNERS in all).
  const claimed: number[][] = Array.from({ length: match.n }, () => []);
  for (let j = 0; j < other.n; j++) {
    const i = other.k > 0 ? other.ids[j * other.k]! : -1;
    if (i >= 0) claimed[i]!.push(j);
  }
  const partner = (j: number, cosine: number, mutual: boolean): SplitPartner => ({
    id: j,
    cosine: round4(cosine),
    mutual,
    label: partnerPoints.labels[j] ?? null,
    x: round4(partnerPoints.xy[2 * j]!),
    y: round4(partnerPoints.xy[2 * j + 1]!),
  });
  const shards: SplitSide["shards"] = [];
  for (let first = 0; first < match.n; first += shardSize) {
    const count = Math.min(shardSize, match.n - first);
    const features: SplitPartner[][] = [];
    for (let i = first; i < first + count; i++) {
      const list: SplitPartner[] = [];
      if (match.alive[i]) {
        const seen = new Set<number>();
        for (let t = 0; t < match.k; t++) {
          const j = match.ids[i * match.k + t]!;
          seen.add(j);
          list.push(partner(j, match.cosines[i * match.k + t]!, isMutual(match, other, i, t)));
        }
        for (const j of claimed[i]!) {
          // The partner's cosine to i is its own nearest's, the first of its list.
          if (!seen.has(j)) list.push(partner(j, other.cosines[j * other.k]!, true));
        }
        list.sort((p, q) => q.cosine - p.cosine || p.id - q.id);
        list.length = Math.min(list.length, MAX_PARTNERS);
      }
      features.push(list);
    }
    const path = writer.add(folder, String(first), "json", stableJson({ splitsFormatVersion: SPLITS_FORMAT_VERSION, first, features }));
    shards.push({ first, count, path });
  }
  return shards;
}

/** The pair folder's index when it was computed from exactly these atlases and options, else null. */
function currentIndex(dir: string, small: AtlasSide, large: AtlasSide, k: number, shardSize: number): SplitsIndex | null {
  let index: SplitsIndex;
  try {
    index = splitsIndexSchema.parse(JSON.parse(readFileSync(join(dir, SPLITS_ENTRY), "utf8")));
  } catch {
    return null;
  }
  const same = (side: SplitSide, atlas: AtlasSide): boolean =>
    side.id === atlas.manifest.id && side.manifestSha256 === atlas.manifestSha256 && side.weightsSha256 === atlas.weightsSha256;
  const sameShards = index.small.shards[0]!.count === Math.min(shardSize, index.small.features);
  return same(index.small, small) && same(index.large, large) && index.k === k && sameShards ? index : null;
}

/**
 * Match two atlases' dictionaries and write their pair folder. Throws `InputError` (naming the
 * file and the problem) for a missing atlas or dictionary, a dictionary that is not the atlas's,
 * different d_in, equal widths, or different model / hook point without `force`.
 */
export function buildSplits(opts: BuildSplitsOptions): BuildSplitsResult {
  const log = opts.log ?? (() => {});
  const k = opts.k ?? DEFAULT_SPLITS_K;
  const shardSize = opts.shardSize ?? DEFAULT_SPLITS_SHARD;
  if (!Number.isInteger(k) || k < 1 || k > 64) throw new InputError(`splits: k must be an integer from 1 to 64, got ${k}`);
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new InputError(`splits: shard size must be a positive integer, got ${shardSize}`);
  const a = readAtlas(opts.a);
  const b = readAtlas(opts.b);
  const da = a.manifest.dictionary;
  const db = b.manifest.dictionary;
  if (a.manifest.id === b.manifest.id) throw new InputError(`${a.dir} and ${b.dir}: both hold atlas "${a.manifest.id}"; splits pair two different atlases`);
  if (da.dIn !== db.dIn) {
    throw new InputError(`atlases "${a.manifest.id}" (d_in ${da.dIn}) and "${b.manifest.id}" (d_in ${db.dIn}) write to different activation widths; their features cannot be compared`);
  }
  if (da.dSae === db.dSae) {
    throw new InputError(`atlases "${a.manifest.id}" and "${b.manifest.id}" both have ${da.dSae} features; splits pair a narrower dictionary with a wider one`);
  }
  const sameSource = da.model !== null && da.hookName !== null && da.model === db.model && da.hookName === db.hookName;
  if (!sameSource && !opts.force) {
    throw new InputError(
      `atlases "${a.manifest.id}" (${da.model ?? "unknown model"} @ ${da.hookName ?? "unknown hook"}) and "${b.manifest.id}" ` +
        `(${db.model ?? "unknown model"} @ ${db.hookName ?? "unknown hook"}) are not the same model and hook point; pass --force to pair them anyway`,
    );
  }
  const [small, large] = da.dSae < db.dSae ? [a, b] : [b, a];
  const pair = splitsPairName(small.manifest.id, large.manifest.id);
  const dir = join(resolve(opts.root), SPLITS_DIR, pair);
  log(`  ${small.manifest.id} (${small.manifest.counts.features.toLocaleString("en-US")}) ↔ ${large.manifest.id} (${large.manifest.counts.features.toLocaleString("en-US")}), d_in ${da.dIn}, k ${k}`);

  if (opts.skipUpToDate) {
    const current = currentIndex(dir, small, large, k, shardSize);
    if (current) {
      log(`  ${dir} is up to date (same atlases, dictionaries, k and shard size); kept`);
      return { index: current, dir, bytes: current.files.reduce((a, f) => a + f.bytes, 0), matchSeconds: 0, skipped: true };
    }
  }
  const smallPoints = readPoints(small);
  const largePoints = readPoints(large);
  const t0 = performance.now();
  const match = matchWidths(
    () => loadDecoder(small, log),
    () => loadDecoder(large, log),
    small.manifest.counts.features,
    large.manifest.counts.features,
    da.dIn,
    { k, ...(opts.threads === undefined ? {} : { threads: opts.threads }) },
  );
  const matchSeconds = (performance.now() - t0) / 1000;

  const writer = new AtlasWriter(dir, SPLITS_ENTRY);
  try {
    const smallShards = writeSide(writer, "small", match.small, match.large, largePoints, shardSize);
    const largeShards = writeSide(writer, "large", match.large, match.small, smallPoints, shardSize);
    const side = (s: AtlasSide, shards: SplitSide["shards"]): SplitSide => ({
      id: s.manifest.id,
      title: s.manifest.title,
      features: s.manifest.counts.features,
      manifestSha256: s.manifestSha256,
      weightsSha256: s.weightsSha256,
      shards,
    });
    const index = parseWithFriendlyErrors(
      splitsIndexSchema,
      {
        splitsFormatVersion: SPLITS_FORMAT_VERSION,
        atlasFormatVersion: FORMAT_VERSION,
        model: sameSource ? da.model : null,
        hookName: sameSource ? da.hookName : null,
        dIn: da.dIn,
        k,
        small: side(small, smallShards),
        large: side(large, largeShards),
        files: writer.sortedFiles(),
      },
      `${join(dir, SPLITS_ENTRY)} (about to be written)`,
    );
    const entry = JSON.stringify(index, null, 1) + "\n";
    const bytes = writer.bytesWritten + Buffer.byteLength(entry);
    writer.commitEntry(entry);
    return { index, dir, bytes, matchSeconds, skipped: false };
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/**
 * Splits for every same-model, same-hook pair of different widths among `inputs` (see
 * pairs.ts), into `<root>/splits/`. The post-build step of a multi-atlas site build, and the CLI
 * with more than two atlases. Returns one result per pair, in pair order.
 */
export function buildAllSplits(
  inputs: readonly SplitsInput[],
  opts: Omit<BuildSplitsOptions, "a" | "b" | "force">,
): BuildSplitsResult[] {
  const sides = inputs.map((input) => ({ input, manifest: readAtlas(input).manifest }));
  const results: BuildSplitsResult[] = [];
  for (const pair of findSplitPairs(sides)) {
    results.push(buildSplits({ ...opts, a: pair.small.input, b: pair.large.input }));
  }
  return results;
}
