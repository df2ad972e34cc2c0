/**
 * Running out of memory or disk: an estimate printed before the long stages, so that a build
 * that cannot fit says so in its first seconds rather than after an hour, and failures that do
 * happen turned into one clear sentence (`ResourceError`) instead of a stack trace.
 *
 * The estimate is a model of the big allocations, not a measurement: what is already resident
 * after reading (dictionary, metadata, Node itself) plus what the later stages add. Typed arrays
 * live outside V8's heap and are bounded by the machine's memory; Maps, strings and objects
 * (umap-js' sparse matrices, labels, shard records) live on the heap and are bounded by V8's
 * heap limit, which `--max-old-space-size` raises. The two are checked separately.
 */
import { freemem, totalmem } from "node:os";
import { getHeapStatistics } from "node:v8";
import { formatBytes } from "./log.ts";

/** A problem with the machine rather than the input: full disk, no memory. The CLI prints its message only. */
export class ResourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ResourceError";
  }
}

export interface MemoryEstimate {
  /** Bytes outside the V8 heap (typed arrays, WebAssembly memory, native indexes). */
  external: number;
  /** Bytes on the V8 heap. */
  heap: number;
  /** Resident set size when the estimate was made (already counted in the two above). */
  resident: number;
  total: number;
  /** The parts, for the log: name → bytes. */
  parts: [string, number][];
}

export interface EstimateInput {
  n: number;
  d: number;
  /** Neighbours per point, without the point itself. */
  k: number;
  /** HNSW links per node (the `m` build parameter). */
  m: number;
  /**
   * The kNN engine that will run (neighbours/knn.ts `knnEngine`); default HNSW. The partitioned
   * engine keeps no index copy of the rows beyond int8 ones, only per-point candidate heaps.
   */
  engine?: { name: "hnsw" } | { name: "exact" } | { name: "partitioned"; precision: "float32" | "int8"; tracked: number };
  /** Unit rows are normalised over the decoder (rows over 4 GiB), so they add nothing. */
  unitInPlace?: boolean;
  /** Total length of the labels (UTF-16 units); their text is counted in `resident`, this sizes the search index. */
  labelChars: number;
  /** Current RSS and heap use (process.memoryUsage()), after the dictionary and metadata are read. */
  usage: { rss: number; heapUsed: number };
}

/**
 * Per-point cost of the layout. umap-js (used for small graphs) keeps its sparse matrices in Maps
 * keyed by strings: ~62 KB a point on the heap (measured, see layout/umap.ts). The typed-array
 * engine used above a few thousand points needs ~1.5·k1 edges of ~40 bytes (layout/typed-umap.ts).
 */
const UMAPJS_BYTES_PER_POINT = 64 * 1024;
const UMAPJS_MAX_POINTS = 2048;
const TYPED_UMAP_BYTES_PER_EDGE = 40;

export function estimateMemory(e: EstimateInput): MemoryEstimate {
  const { n, d, k } = e;
  const k1 = k + 1;
  const parts: [string, number][] = [];
  const add = (name: string, bytes: number) => parts.push([name, Math.round(bytes)]);
  // Unit rows are a second [n × d] float32 copy beside the decoder (counted in `resident`).
  add("unit decoder rows", e.unitInPlace ? 0 : n * d * 4);
  const engine = e.engine ?? { name: "hnsw" };
  if (engine.name === "hnsw") {
    // HNSW keeps its own copy of the vectors plus 2m level-0 links and a header per node.
    add("neighbour index", n * d * 4 + n * (2 * e.m * 4 + 64));
  } else if (engine.name === "exact") {
    // Per-query heaps (id + key) of k, and the self dots.
    add("neighbour index", n * k1 * 16 + n * 8);
  } else {
    // Candidate heaps (id + key) and per-point state; int8 rows; the cosine cache (≤ 1 GiB).
    add("neighbour index", n * engine.tracked * 8 + n * 32 + (engine.precision === "int8" ? n * d : 0) + Math.min(2 ** 30, n * Math.sqrt(n) * 4));
  }
  add("kNN graph", n * k1 * 8 * 2); // the graph, and the symmetrised copy the layout and regions build
  const umapjs = Math.min(n, UMAPJS_MAX_POINTS);
  add("layout", n > UMAPJS_MAX_POINTS ? n * 1.5 * k1 * TYPED_UMAP_BYTES_PER_EDGE : umapjs * UMAPJS_BYTES_PER_POINT);
  // Region search runs Louvain on a graph of the kNN and layout edges, a few times over, and
  // counts label terms per region (measured: 1–7 KB a point on the demo and a 16k synthetic).
  add("regions", n * 2048);
  // Shard records are built one shard at a time; the search index holds every label's terms
  // (measured: ~85 bytes per label character on the demo).
  add("search index", e.labelChars * 64);
  const heapParts = new Set(["search index", "regions", ...(n > UMAPJS_MAX_POINTS ? [] : ["layout"])]);
  let external = Math.max(0, e.usage.rss - e.usage.heapUsed);
  let heap = e.usage.heapUsed;
  for (const [name, bytes] of parts) {
    if (heapParts.has(name)) heap += bytes;
    else external += bytes;
  }
  return { external, heap, resident: e.usage.rss, total: external + heap, parts };
}

export interface MemoryLimits {
  /** Memory the OS can give: free memory, or the cgroup limit when lower. */
  available: number;
  total: number;
  heapLimit: number;
}

export function memoryLimits(): MemoryLimits {
  const constrained = typeof process.constrainedMemory === "function" ? process.constrainedMemory() : 0;
  const total = constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return { available: Math.min(freemem(), total), total, heapLimit: getHeapStatistics().heap_size_limit };
}

/** The log line, and a warning with advice when the estimate does not fit. */
export function describeEstimate(est: MemoryEstimate, limits: MemoryLimits): { line: string; warning: string | null } {
  const line =
    `  memory: about ${formatBytes(est.total)} at peak (${formatBytes(est.external)} arrays, ${formatBytes(est.heap)} JS heap); ` +
    `${formatBytes(limits.available)} available of ${formatBytes(limits.total)}, JS heap limit ${formatBytes(limits.heapLimit)}`;
  const problems: string[] = [];
  if (est.heap > limits.heapLimit * 0.9) {
    const mb = Math.ceil((est.heap * 1.5) / 2 ** 20 / 1024) * 1024;
    problems.push(`the JS heap part (${formatBytes(est.heap)}) is near or above Node's heap limit (${formatBytes(limits.heapLimit)}); raise it with NODE_OPTIONS=--max-old-space-size=${mb}`);
  }
  // What the build already holds (the dictionary, read before the estimate) is not in "available"
  // any more, so only the growth beyond it must fit. Comparing the whole peak warned at 1M × 2,304
  // (19.0 GB against 12.9 GB available after reading 9.7 GB) although the build peaked at 15.5 GB.
  const growth = Math.max(0, est.total - est.resident);
  if (growth > limits.available) {
    problems.push(
      `it needs about ${formatBytes(growth)} more than the ${formatBytes(est.resident)} it holds now, and only ${formatBytes(limits.available)} of memory is available; close other programs, use a machine with more memory, or build a narrower dictionary`,
    );
  }
  return { line, warning: problems.length ? `this build may run out of memory: ${problems.join("; ")}` : null };
}

/**
 * Messages V8 and Node give when an allocation cannot be had. "Invalid typed array length" counts
 * only for huge lengths: a negative or NaN one is a bug, and must keep its stack.
 */
const OOM_PATTERNS = [
  /Array buffer allocation failed/i,
  /Invalid typed array length: \d{9,}/i,
  /Invalid string length/i,
  /Cannot create a string longer than/i,
  /Out of memory/i,
  /WebAssembly\.Memory.*(grow|allocat)/i,
  /Map maximum size exceeded/i,
];
const DISK_CODES: Record<string, string> = {
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exhausted",
  EROFS: "the file system is read-only",
  EFBIG: "a file is too large for the file system",
};

/**
 * A ResourceError for errors that mean the machine ran out of something, with `context` (what
 * was being done) and advice; null for anything else.
 */
export function asResourceError(err: unknown, context: string): ResourceError | null {
  if (err instanceof ResourceError) return err;
  if (!(err instanceof Error)) return null;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && DISK_CODES[code]) {
    const path = (err as NodeJS.ErrnoException).path;
    return new ResourceError(
      `${DISK_CODES[code]} (${code}) while ${context}${path ? ` (${path})` : ""}. Free some space and build again; the previous atlas, if any, is untouched.`,
      { cause: err },
    );
  }
  if (code === "ERR_BUFFER_TOO_LARGE" || code === "ERR_STRING_TOO_LONG" || (err instanceof RangeError && OOM_PATTERNS.some((p) => p.test(err.message)))) {
    return new ResourceError(
      `out of memory while ${context} (${err.message}). The memory estimate is printed at the start of the build; ` +
        `give Node more heap with NODE_OPTIONS=--max-old-space-size=<MB>, or build on a machine with more memory. The previous atlas, if any, is untouched.`,
      { cause: err },
    );
  }
  return null;
}
