/**
 * One site built by several `astro build` processes at once (scripts/astro-build.ts). Astro renders
 * pages on one thread, so a 1M-feature site takes about an hour on one core; each process renders
 * a contiguous share of every route's paths and the driver merges their output folders. Pages do
 * not depend on which process renders them, so the merged folder is byte-identical to a one-process
 * build (tests/unit/site-parts.test.ts checks it).
 *
 * SITE_PART="<i>/<n>" (0 ≤ i < n) makes this process part i of n; unset, it is the whole site.
 * Node only: read by every route's `getStaticPaths` and by the integration.
 */

export interface SitePart {
  /** This process's part, 0 … count − 1. */
  index: number;
  /** Processes building the site; 1 when SITE_PART is unset. */
  count: number;
}

export function sitePart(env: string | undefined = process.env["SITE_PART"]): SitePart {
  if (env === undefined || env.trim() === "") return { index: 0, count: 1 };
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(env);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count)) {
    throw new Error(`SITE_PART must be "<i>/<n>" with 0 ≤ i < n, e.g. "0/2"; got ${JSON.stringify(env)}`);
  }
  return { index, count };
}

/**
 * This part's share of a route's paths: item j of `length` belongs to part ⌊j · n / length⌋, so
 * the shares are contiguous (neighbouring features share their data shard) and a route with one
 * path (a home page) is built by part 0 alone.
 */
export function partRange(length: number, part: SitePart = sitePart()): [number, number] {
  const { index, count } = part;
  // The smallest j with ⌊j · n / length⌋ ≥ i is ⌈i · length / n⌉.
  return [Math.ceil((index * length) / count), Math.ceil(((index + 1) * length) / count)];
}

/** A route's `getStaticPaths` result, cut to this process's part. */
export function inThisPart<T>(paths: readonly T[], part: SitePart = sitePart()): T[] {
  const [lo, hi] = partRange(paths.length, part);
  return paths.slice(lo, hi);
}

/** Sites with fewer feature pages than this per process build quietly. */
const PROGRESS_FROM = 20_000;
/** Seconds between two progress lines. */
const PROGRESS_SECONDS = 30;

const progress = { total: 0, done: 0, started: 0, reported: 0, part: { index: 0, count: 1 } as SitePart };

/**
 * The feature route's paths for this part, counted so that `featurePageRendered` can report
 * progress: a 1M-feature site renders for half an hour, and `astro build --silent` says nothing.
 */
export function featurePaths<T>(paths: readonly T[], part: SitePart = sitePart()): T[] {
  const mine = inThisPart(paths, part);
  progress.total = mine.length;
  progress.done = 0;
  progress.part = part;
  progress.started = progress.reported = performance.now();
  return mine;
}

/** Called once per rendered feature page (so it does no more than count); every PROGRESS_SECONDS writes a line to stderr. */
export function featurePageRendered(): void {
  progress.done++;
  if (progress.total < PROGRESS_FROM) return;
  const now = performance.now();
  if (now - progress.reported < PROGRESS_SECONDS * 1000 && progress.done !== progress.total) return;
  progress.reported = now;
  const rate = progress.done / Math.max(1e-3, (now - progress.started) / 1000);
  const { part } = progress;
  const who = part.count > 1 ? `part ${part.index + 1} of ${part.count}: ` : "";
  const left = progress.done < progress.total ? `, ~${Math.ceil((progress.total - progress.done) / rate / 60)} min left` : "";
  process.stderr.write(`[site] ${who}${progress.done.toLocaleString("en-US")} of ${progress.total.toLocaleString("en-US")} feature pages (${rate.toFixed(0)}/s${left})\n`);
}
