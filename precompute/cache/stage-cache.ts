/**
 * A content-addressed cache for the expensive stages (kNN graph, layout, regions), so that a
 * build killed halfway, or re-run with only a cheap option changed, starts from where the last
 * one got to.
 *
 * Keys are sha256 digests of everything a stage's output depends on: the decoder bytes, the
 * stage's parameters and seed, the outputs of the stages before it (by their keys), and the
 * stage's code — the source files of its folder, the versions of the libraries it calls, and
 * the V8 version (layout arithmetic goes through Math functions) — plus CACHE_FORMAT. So editing
 * a stage's code, or upgrading Node, invalidates its entries without anyone remembering to bump
 * a version, and a cached output is always the bytes the stage would compute.
 *
 * An entry is one file, `<stage>-<key>.bin`: a magic line, a JSON header (stage, key, meta, the
 * list of typed arrays and a sha256 of the payload), then the arrays, 8-byte aligned. It is
 * written to a temporary name and renamed into place, so a reader sees a whole entry or none;
 * an entry that fails its checks (a torn disk, another format) is ignored, deleted and
 * recomputed. The cache is an optimisation only: failing to write it (full disk) is a warning.
 */
import { createHash, type Hash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Bump when the entry layout or the meaning of a stage's meta changes. */
export const CACHE_FORMAT = "atlas-stage-cache 1";
const MAGIC = Buffer.from("ATLASCACHE1\n", "latin1");
/** Default least total size the cache is pruned to (least recently used first). */
const MIN_BUDGET = 1024 ** 3;

type ArrayKind = "f32" | "f64" | "i32" | "u32" | "u8";
export type CachedArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

const CTORS = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u32: Uint32Array,
  u8: Uint8Array,
} as const;

function kindOf(a: CachedArray): ArrayKind {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Float64Array) return "f64";
  if (a instanceof Int32Array) return "i32";
  if (a instanceof Uint32Array) return "u32";
  return "u8";
}

export interface CacheEntry {
  /** Small JSON-able values (counts, measurements, object trees without big arrays). */
  meta: unknown;
  arrays: Record<string, CachedArray>;
}

interface Header {
  format: string;
  stage: string;
  key: string;
  meta: unknown;
  arrays: { name: string; kind: ArrayKind; length: number; offset: number }[];
  payloadBytes: number;
  payloadSha256: string;
}

function bytesOf(a: CachedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Bytes per view when hashing a typed array. A Uint8Array view cannot be longer than 2^32 − 1 on
 * Node 20 (V8's limit), while a 1M × 2,304 float32 decoder is 9.7 GB: it is fed in slices, which
 * gives the same digest as one update.
 */
export const HASH_SLICE_BYTES = 1 << 30;

/** Feed a typed array's bytes to a hash in slices of at most `sliceBytes`. */
export function updateWithBytes(h: Hash, v: ArrayBufferView, sliceBytes = HASH_SLICE_BYTES): void {
  for (let at = 0; at < v.byteLength; at += sliceBytes) {
    h.update(new Uint8Array(v.buffer, v.byteOffset + at, Math.min(sliceBytes, v.byteLength - at)));
  }
}

/**
 * sha256 of values for a cache key: JSON for plain values, raw bytes for typed arrays (so a
 * 4 GB decoder is hashed without becoming a string). Object keys are taken in the order given.
 */
export function cacheKey(...parts: unknown[]): string {
  const h = createHash("sha256");
  const feed = (v: unknown): void => {
    if (ArrayBuffer.isView(v)) {
      h.update(`<${v.constructor.name}:${v.byteLength}>`);
      updateWithBytes(h, v);
    } else if (Array.isArray(v)) {
      h.update("[");
      v.forEach((x) => (feed(x), h.update(",")));
      h.update("]");
    } else if (v !== null && typeof v === "object") {
      h.update("{");
      for (const [k, x] of Object.entries(v)) {
        h.update(JSON.stringify(k) + ":");
        feed(x);
        h.update(",");
      }
      h.update("}");
    } else {
      h.update(JSON.stringify(v) ?? "undefined");
    }
  };
  parts.forEach(feed);
  return h.digest("hex");
}

const here = dirname(fileURLToPath(import.meta.url));
const codeHashes = new Map<string, string>();

/** sha256 of the source files of a precompute folder (e.g. "neighbours"), recursively, in name order. */
export function folderCodeHash(folder: string): string {
  const dir = resolve(here, "..", folder);
  let cached = codeHashes.get(dir);
  if (cached) return cached;
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      // A native addon's build folder is node-gyp's output (native/build.mjs), not source.
      if (statSync(p).isDirectory()) {
        if (name !== "build") walk(p);
      } else if (/\.(ts|mjs|js|json|cc|gyp)$/.test(name)) {
        h.update(`${p.slice(dir.length)}\0`);
        h.update(readFileSync(p));
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  cached = h.digest("hex");
  codeHashes.set(dir, cached);
  return cached;
}

/** Version of an installed package, or "none". */
export function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(here, "..", "..", "node_modules", name, "package.json"), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "none";
  }
}

/** What a stage's code is, for its keys: its folder's sources, shared modules, libraries, V8. */
export function stageCodeVersion(folder: string, packages: string[] = []): Record<string, string> {
  return {
    format: CACHE_FORMAT,
    code: folderCodeHash(folder),
    shared: cacheKey(["random.ts", "stages.ts"].map((f) => readFileSync(resolve(here, "..", f)))),
    packages: packages.map((p) => `${p}@${packageVersion(p)}`).join(" "),
    v8: process.versions.v8,
  };
}

export class StageCache {
  readonly dir: string | null;
  private readonly warn: (m: string) => void;
  /** Entry files read or written by this build, kept by pruning. */
  private readonly used = new Set<string>();

  private readonly minBudget: number;

  /** `dir` null: a cache that never hits and stores nothing. */
  constructor(dir: string | null, warn: (m: string) => void = () => {}, opts: { minBudget?: number } = {}) {
    this.dir = dir === null ? null : resolve(dir);
    this.warn = warn;
    this.minBudget = opts.minBudget ?? MIN_BUDGET;
  }

  private file(stage: string, key: string): string {
    return join(this.dir!, `${stage}-${key.slice(0, 32)}.bin`);
  }

  /**
   * The entry for `stage` and `key`, through `convert` (which throws when the entry does not fit);
   * null when absent or unusable, and then the entry is deleted.
   */
  load<T>(stage: string, key: string, convert: (e: CacheEntry) => T): T | null {
    if (this.dir === null) return null;
    const path = this.file(stage, key);
    if (!existsSync(path)) return null;
    try {
      const entry = convert(decode(readFileSync(path), stage, key));
      this.used.add(path);
      // Touch it: pruning removes the least recently used entries first.
      const now = new Date();
      utimesSync(path, now, now);
      return entry;
    } catch (e) {
      this.warn(`cache entry ${path} is unusable (${(e as Error).message}); computing ${stage} again`);
      rmSync(path, { force: true });
      return null;
    }
  }

  /** Store an entry atomically (temporary file, then rename). Failures are warnings. */
  store(stage: string, key: string, entry: CacheEntry): void {
    if (this.dir === null) return;
    const path = this.file(stage, key);
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(tmp, encode(entry, stage, key));
      renameSync(tmp, path);
      this.used.add(path);
    } catch (e) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        /* the folder itself is unusable; nothing was written */
      }
      this.warn(`could not write the ${stage} cache entry to ${this.dir} (${(e as Error).message}); the build goes on without it`);
      return;
    }
    this.prune();
  }

  /**
   * Keep the cache within max(1 GB, 4 × this build's entries), deleting the least recently used
   * entries that this build did not touch. Also removes temporary files of dead writers.
   */
  private prune(): void {
    if (this.dir === null) return;
    const entries = readdirSync(this.dir).map((name) => {
      const p = join(this.dir!, name);
      const st = statSync(p);
      return { p, name, bytes: st.size, mtime: st.mtimeMs };
    });
    let mine = 0;
    for (const e of entries) if (this.used.has(e.p)) mine += e.bytes;
    const budget = Math.max(this.minBudget, 4 * mine);
    let total = entries.reduce((a, e) => a + e.bytes, 0);
    const candidates = entries.filter((e) => !this.used.has(e.p) && !e.name.includes(`.tmp-${process.pid}`)).sort((a, b) => a.mtime - b.mtime);
    for (const e of candidates) {
      // Temporary files older than a day belong to writers that died.
      const staleTmp = e.name.includes(".tmp-") && Date.now() - e.mtime > 86_400_000;
      if (total <= budget && !staleTmp) continue;
      rmSync(e.p, { force: true });
      total -= e.bytes;
    }
  }
}

function encode(entry: CacheEntry, stage: string, key: string): Buffer {
  const arrays: Header["arrays"] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(entry.arrays)) {
    arrays.push({ name, kind: kindOf(a), length: a.length, offset });
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const payload = Buffer.alloc(offset);
  for (const [i, a] of Object.values(entry.arrays).entries()) payload.set(bytesOf(a), arrays[i]!.offset);
  const header: Header = {
    format: CACHE_FORMAT,
    stage,
    key,
    meta: entry.meta,
    arrays,
    payloadBytes: offset,
    payloadSha256: createHash("sha256").update(payload).digest("hex"),
  };
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - ((MAGIC.length + 4 + json.length) % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([MAGIC, len, json, payload]);
}

/** An entry file's header and where its payload starts. */
function readHeader(buf: Buffer): { header: Header; start: number } {
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("not a cache entry");
  const len = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + len;
  if (start > buf.length) throw new Error("truncated header");
  return { header: JSON.parse(buf.toString("utf8", MAGIC.length + 4, start)) as Header, start };
}

/**
 * The entry in one cache file, whatever its key (for benchmarks that reuse a build's stage
 * output, bench/refine-round.ts); throws when the file is not a whole entry.
 */
export function readEntryFile(path: string): { stage: string; entry: CacheEntry } {
  const buf = readFileSync(path);
  const { header } = readHeader(buf);
  return { stage: header.stage, entry: decode(buf, header.stage, header.key) };
}

function decode(buf: Buffer, stage: string, key: string): CacheEntry {
  const { header, start } = readHeader(buf);
  if (header.format !== CACHE_FORMAT || header.stage !== stage || header.key !== key) throw new Error("written for another stage, key or format");
  const payload = buf.subarray(start);
  if (payload.length !== header.payloadBytes) throw new Error(`payload is ${payload.length} bytes, expected ${header.payloadBytes}`);
  if (createHash("sha256").update(payload).digest("hex") !== header.payloadSha256) throw new Error("payload checksum mismatch");
  const arrays: Record<string, CachedArray> = {};
  for (const a of header.arrays) {
    const Ctor = CTORS[a.kind];
    const out = new Ctor(a.length);
    // Copied, so the array owns aligned memory whatever the Buffer's offset in its pool.
    new Uint8Array(out.buffer).set(payload.subarray(a.offset, a.offset + out.byteLength));
    arrays[a.name] = out;
  }
  return { meta: header.meta, arrays };
}
