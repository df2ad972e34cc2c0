/**
 * Dot products of decoder rows in WebAssembly SIMD, over rows kept in a shared WebAssembly memory.
 *
 * Why WebAssembly: the neighbour search spends nearly all its time in dot products of 768- to
 * 2,304-float rows. Measured on the 2-core build machine (Node 20), a plain JS loop over a
 * Float32Array does one 768-float dot in 1.2–3 µs (V8 does not vectorise); the f32x4 kernel below
 * does it in 0.13–0.23 µs when the rows are in cache and ~0.5 µs when they come from RAM. Node ≥ 16
 * runs SIMD WebAssembly without flags, and there is no native dependency to build. The module is
 * small enough to assemble here by hand (no toolchain, nothing fetched at build time).
 *
 * Why a shared memory: the rows live in one `WebAssembly.Memory({ shared: true })`, whose buffer is
 * a SharedArrayBuffer, so the worker threads read the same rows with no copy.
 * `allocateRows` hands out that Float32Array, and `normaliseRows` writes the unit rows straight
 * into it. A wasm32 memory holds at most 4 GiB, which bounds the rows at about n · d ≤ 1.07e9 floats
 * (262,144 × 2,304 is 0.6e9; 1,048,576 × 2,304 does not fit). Past that the search ranks
 * candidates on int8 rows, which do fit (int8.ts), and the exact kernel copies the float32 rows it
 * needs from wherever they are (`StagedExact`); exact search scans them through a window (exact.ts).
 *
 * Layout: the n data rows, then `spareRows(n)` spare rows (the search writes its partition
 * centroids there, so they are rows like any other for the kernels), then one scratch slot per
 * thread at the very end.
 *
 * Two kernels:
 * - `dots`  — float32 lanes, four f32x4 accumulators: fast, used to rank candidates.
 * - `exact` — float64: each float32 is widened and the products are summed in a fixed order (two
 *   f64x2 accumulators over groups of four, then the tail in index order). WebAssembly arithmetic is
 *   IEEE-exact, never fused, so this gives the same bits on every machine, and every distance the
 *   graph stores comes from it. An exact duplicate row gives exactly its own self dot.
 */

const PAGE = 65536;
/** Largest wasm32 memory, in pages (4 GiB). */
const MAX_PAGES = 65536;
/** Bytes reserved after the rows for each thread's ids and results. */
export const SCRATCH_BYTES = 1 << 20;
/** Threads that may use scratch space at once (the main thread and its workers). */
export const MAX_THREADS = 8;

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
export const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

export const get = (i: number): number[] => [0x20, ...uleb(i)];
export const set = (i: number): number[] => [0x21, ...uleb(i)];
export const i32 = (v: number): number[] => [0x41, ...sleb(v)];
export const ADD = [0x6a];
export const MUL = [0x6c];
export const AND = [0x71];
export const GE_U = [0x4f];
export const BLOCK = [0x02, 0x40];
export const LOOP = [0x03, 0x40];
export const END = [0x0b];
export const brIf = (depth: number): number[] => [0x0d, depth];
export const br = (depth: number): number[] => [0x0c, depth];
export const i32Load = [0x28, 2, 0];
export const f32Load = [0x2a, 2, 0];
export const f32Store = [0x38, 2, 0];
export const f64Store = [0x39, 3, 0];
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];
export const v128Load = (offset: number): number[] => [...simd(0x00), 0, ...uleb(offset)];
const v128Load64Zero = (offset: number): number[] => [...simd(0x5d), 0, ...uleb(offset)];
export const V128_ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)];
const F32X4_ADD = simd(228);
const F32X4_MUL = simd(230);
const F64X2_ADD = simd(240);
const F64X2_MUL = simd(242);
const F64X2_PROMOTE = simd(0x5f);
const f32x4Lane = (l: number): number[] => [...simd(0x1f), l];
const f64x2Lane = (l: number): number[] => [...simd(0x21), l];
export const F32_ADD = [0x92];
export const F32_MUL = [0x94];
const F64_ADD = [0xa0];
const F64_MUL = [0xa2];
const F64_PROMOTE = [0xbb];
export const F32 = 0x7d;

/** `while (local < limit) { body }`, as block/loop. */
export const whileLess = (local: number, limit: number, body: number[]): number[] => [
  ...BLOCK, ...LOOP, ...get(local), ...get(limit), ...GE_U, ...brIf(1), ...body, ...br(0), ...END, ...END,
];
export const bump = (local: number, by: number): number[] => [...get(local), ...i32(by), ...ADD, ...set(local)];

// Both kernels: (q, ids, count, d, out) — q: byte offset of the query row; ids: byte offset of
// `count` int32 row ids; d: floats per row; out: byte offset of the results.
// Locals: 5 c, 6 a, 7 b, 8 end of the wide loop, 9 end of the 4-float loop, 10 end of the row.
const rowSetup = (wideMask: number): number[] => [
  ...get(1), ...get(5), ...i32(4), ...MUL, ...ADD, ...i32Load, ...get(3), ...MUL, ...i32(4), ...MUL, ...set(7),
  ...get(0), ...set(6),
  ...get(0), ...get(3), ...i32(4), ...MUL, ...ADD, ...set(10),
  ...get(0), ...get(3), ...i32(wideMask), ...AND, ...i32(4), ...MUL, ...ADD, ...set(8),
  ...get(0), ...get(3), ...i32(-4), ...AND, ...i32(4), ...MUL, ...ADD, ...set(9),
];

/** float32: 16 floats per step in four f32x4 accumulators, then 4 at a time, then the tail. */
const dotsBody = [
  ...vec([[...uleb(6), I32], [...uleb(4), V128], [...uleb(1), F32]]),
  ...whileLess(5, 2, [
    ...rowSetup(-16),
    ...V128_ZERO, ...set(11), ...V128_ZERO, ...set(12), ...V128_ZERO, ...set(13), ...V128_ZERO, ...set(14),
    ...whileLess(6, 8, [
      ...[0, 1, 2, 3].flatMap((lane) => [
        ...get(11 + lane), ...get(6), ...v128Load(16 * lane), ...get(7), ...v128Load(16 * lane), ...F32X4_MUL, ...F32X4_ADD, ...set(11 + lane),
      ]),
      ...bump(6, 64), ...bump(7, 64),
    ]),
    ...whileLess(6, 9, [
      ...get(11), ...get(6), ...v128Load(0), ...get(7), ...v128Load(0), ...F32X4_MUL, ...F32X4_ADD, ...set(11),
      ...bump(6, 16), ...bump(7, 16),
    ]),
    ...get(11), ...get(12), ...F32X4_ADD, ...get(13), ...get(14), ...F32X4_ADD, ...F32X4_ADD, ...set(11),
    ...get(11), ...f32x4Lane(0), ...get(11), ...f32x4Lane(1), ...F32_ADD,
    ...get(11), ...f32x4Lane(2), ...get(11), ...f32x4Lane(3), ...F32_ADD, ...F32_ADD, ...set(15),
    ...whileLess(6, 10, [
      ...get(15), ...get(6), ...f32Load, ...get(7), ...f32Load, ...F32_MUL, ...F32_ADD, ...set(15),
      ...bump(6, 4), ...bump(7, 4),
    ]),
    ...get(4), ...get(5), ...i32(4), ...MUL, ...ADD, ...get(15), ...f32Store,
    ...bump(5, 1),
  ]),
  ...END,
];

/**
 * float64: floats t, t+1 go to accumulator 11 and t+2, t+3 to accumulator 12 (each widened, then
 * multiplied and added in f64x2); the four lanes are summed as (11.0 + 11.1) + (12.0 + 12.1), then
 * the last d mod 4 products are added in index order. 8-byte loads never read past a row.
 */
const exactBody = [
  ...vec([[...uleb(6), I32], [...uleb(2), V128], [...uleb(1), F64]]),
  ...whileLess(5, 2, [
    ...rowSetup(-4),
    ...V128_ZERO, ...set(11), ...V128_ZERO, ...set(12),
    ...whileLess(6, 9, [
      ...[0, 1].flatMap((half) => [
        ...get(11 + half),
        ...get(6), ...v128Load64Zero(8 * half), ...F64X2_PROMOTE,
        ...get(7), ...v128Load64Zero(8 * half), ...F64X2_PROMOTE,
        ...F64X2_MUL, ...F64X2_ADD, ...set(11 + half),
      ]),
      ...bump(6, 16), ...bump(7, 16),
    ]),
    ...get(11), ...f64x2Lane(0), ...get(11), ...f64x2Lane(1), ...F64_ADD,
    ...get(12), ...f64x2Lane(0), ...get(12), ...f64x2Lane(1), ...F64_ADD, ...F64_ADD, ...set(13),
    ...whileLess(6, 10, [
      ...get(13), ...get(6), ...f32Load, ...F64_PROMOTE, ...get(7), ...f32Load, ...F64_PROMOTE, ...F64_MUL, ...F64_ADD, ...set(13),
      ...bump(6, 4), ...bump(7, 4),
    ]),
    ...get(4), ...get(5), ...i32(8), ...MUL, ...ADD, ...get(13), ...f64Store,
    ...bump(5, 1),
  ]),
  ...END,
];

/**
 * float32 block: every pair of 4 "a" rows × 2 "b" rows at once, eight f32x4 accumulators, so each
 * loaded vector feeds two or four multiply-adds (the one-row kernel is bound by its loads). Needs d
 * a multiple of 4, na a multiple of 4 and nb of 2 (callers pad the id lists). Writes the [na × nb]
 * matrix of dots row-major to `out`. Lane sums are ((0 + 1) + (2 + 3)), so a pair's dot does not
 * depend on which side it was on.
 * Params: 0 aIds, 1 na, 2 bIds, 3 nb, 4 d, 5 out. Locals: 6 ia, 7 jb, 8–11 a rows, 12–13 b rows,
 * 14 byte offset, 15 row bytes, 16 spare; v128: 17–24 accumulators, 25–26 b vectors, 27 a vector.
 */
const tileBody = (() => {
  const acc = (i: number, j: number): number => 17 + i * 2 + j;
  const rowAddr = (ids: number, index: number[]): number[] => [
    ...get(ids), ...index, ...i32(4), ...MUL, ...ADD, ...i32Load, ...get(15), ...MUL,
  ];
  return [
    ...vec([[...uleb(11), I32], [...uleb(11), V128]]),
    ...get(4), ...i32(4), ...MUL, ...set(15),
    ...i32(0), ...set(6),
    ...whileLess(6, 1, [
      ...[0, 1, 2, 3].flatMap((i) => [...rowAddr(0, [...get(6), ...i32(i), ...ADD]), ...set(8 + i)]),
      ...i32(0), ...set(7),
      ...whileLess(7, 3, [
        ...rowAddr(2, get(7)), ...set(12),
        ...rowAddr(2, [...get(7), ...i32(1), ...ADD]), ...set(13),
        ...[0, 1, 2, 3].flatMap((i) => [0, 1].flatMap((j) => [...V128_ZERO, ...set(acc(i, j))])),
        ...i32(0), ...set(14),
        ...whileLess(14, 15, [
          ...get(12), ...get(14), ...ADD, ...v128Load(0), ...set(25),
          ...get(13), ...get(14), ...ADD, ...v128Load(0), ...set(26),
          ...[0, 1, 2, 3].flatMap((i) => [
            ...get(8 + i), ...get(14), ...ADD, ...v128Load(0), ...set(27),
            ...get(acc(i, 0)), ...get(27), ...get(25), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(i, 0)),
            ...get(acc(i, 1)), ...get(27), ...get(26), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(i, 1)),
          ]),
          ...bump(14, 16),
        ]),
        ...[0, 1, 2, 3].flatMap((i) => [0, 1].flatMap((j) => [
          // out[(ia + i) * nb + jb + j]
          ...get(5), ...get(6), ...i32(i), ...ADD, ...get(3), ...MUL, ...get(7), ...ADD, ...i32(j), ...ADD, ...i32(4), ...MUL, ...ADD,
          ...get(acc(i, j)), ...f32x4Lane(0), ...get(acc(i, j)), ...f32x4Lane(1), ...F32_ADD,
          ...get(acc(i, j)), ...f32x4Lane(2), ...get(acc(i, j)), ...f32x4Lane(3), ...F32_ADD, ...F32_ADD,
          ...f32Store,
        ])),
        ...bump(7, 2),
      ]),
      ...bump(6, 4),
    ]),
    ...END,
  ];
})();

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const type6 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([type, type6])),
    // Imported memory: flags 0x03 = has maximum, shared.
    ...section(2, vec([[...name("env"), ...name("mem"), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]])),
    ...section(3, vec([uleb(0), uleb(0), uleb(1)])),
    ...section(7, vec([[...name("dots"), 0x00, 0], [...name("exact"), 0x00, 1], [...name("tile"), 0x00, 2]])),
    ...section(10, vec([
      [...uleb(dotsBody.length), ...dotsBody],
      [...uleb(exactBody.length), ...exactBody],
      [...uleb(tileBody.length), ...tileBody],
    ])),
  ]);
}

let compiled: WebAssembly.Module | null = null;
function wasmModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(moduleBytes());
  return compiled;
}

/** Rows in shared wasm memory, remembered so a later stage finds the memory behind a Float32Array. */
const memories = new WeakMap<SharedArrayBuffer, WebAssembly.Memory>();

/** Rows reserved after the data: room for the search's partition centroids. */
export function spareRows(n: number): number {
  return Math.ceil(2 * Math.sqrt(n)) + 8;
}

function pagesFor(n: number, d: number): number {
  return Math.ceil(((n + spareRows(n)) * d * 4 + MAX_THREADS * SCRATCH_BYTES) / PAGE);
}

/**
 * A zeroed [n × d] Float32Array at offset 0 of a new shared wasm memory, with spare rows and
 * scratch space after it. Throws when that does not fit in a wasm32 memory.
 */
export function allocateRows(n: number, d: number): Float32Array {
  const dataBytes = n * d * 4;
  const pages = pagesFor(n, d);
  if (pages > MAX_PAGES) {
    throw new Error(`${n} × ${d} float32 rows (${(dataBytes / 2 ** 30).toFixed(1)} GiB) do not fit in a 4 GiB WebAssembly memory`);
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const buffer = memory.buffer as unknown as SharedArrayBuffer;
  memories.set(buffer, memory);
  return new Float32Array(buffer, 0, n * d);
}

/** Whether `allocateRows` could hold n × d rows. */
export function rowsFit(n: number, d: number): boolean {
  return pagesFor(n, d) <= MAX_PAGES;
}

/** The shared memory holding `rows` at offset 0 with room for n rows, spare rows and scratch, or null. */
export function existingMemory(rows: Float32Array, n: number, d: number): WebAssembly.Memory | null {
  const buffer = rows.buffer;
  if (rows.byteOffset !== 0 || !(buffer instanceof SharedArrayBuffer)) return null;
  const memory = memories.get(buffer);
  return memory && memory.buffer.byteLength >= pagesFor(n, d) * PAGE ? memory : null;
}

/** The shared memory holding `rows` at offset 0, copying them into a new one if they are elsewhere. */
export function rowsMemory(rows: Float32Array, n: number, d: number): { memory: WebAssembly.Memory; rows: Float32Array } {
  const memory = existingMemory(rows, n, d);
  if (memory) return { memory, rows };
  const copy = allocateRows(n, d);
  copy.set(rows.subarray(0, n * d));
  return { memory: memories.get(copy.buffer as SharedArrayBuffer)!, rows: copy };
}

/** Register a memory received from another thread, so `rowsMemory` finds it there too. */
export function adoptMemory(memory: WebAssembly.Memory): void {
  memories.set(memory.buffer as unknown as SharedArrayBuffer, memory);
}

/** The fast dot products the partitioned search ranks candidates with (float32 `Kernel` or `Int8Kernel`). */
export interface BlockKernel {
  /** Values per row as the kernel sees them; a multiple of 4 selects the block path. */
  readonly d: number;
  readonly ids: Int32Array;
  readonly out32: Float32Array;
  readonly outTile: Float32Array;
  readonly capacity: number;
  tile(na: number, nb: number): void;
  dots(q: number, count: number): void;
}

/** The exact float64 dot products every stored distance comes from. */
export interface ExactKernel {
  exactPair(a: number, b: number): number;
  /** Exact dots of row q with rows ids[0 … m), in a Float64Array valid until the next call. */
  exactMany(q: number, ids: Int32Array, m: number): Float64Array;
}

/**
 * One thread's handle on the kernels: its own slice of scratch space (`slot`) for ids and results,
 * so threads sharing the memory never write to the same bytes.
 */
export class Kernel implements BlockKernel, ExactKernel {
  readonly d: number;
  /** Ids to score, written by the caller; at most `capacity`. */
  readonly ids: Int32Array;
  /** float32 dot products from `dots`. */
  readonly out32: Float32Array;
  /** float64 dot products from `exact`. */
  readonly out64: Float64Array;
  /** The [na × nb] float32 matrix from `tile` (same bytes as out32, twice as long). */
  readonly outTile: Float32Array;
  /** A free row-sized area for a query vector that is not a data row (e.g. a hyperplane). */
  readonly query: Float32Array;
  readonly capacity: number;
  private readonly idsAt: number;
  private readonly outAt: number;
  private readonly queryAt: number;
  private readonly dotsFn: (q: number, ids: number, count: number, d: number, out: number) => void;
  private readonly exactFn: (q: number, ids: number, count: number, d: number, out: number) => void;
  private readonly tileFn: (a: number, na: number, b: number, nb: number, d: number, out: number) => void;

  constructor(memory: WebAssembly.Memory, d: number, slot: number) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_THREADS) throw new Error(`kernel slot ${slot} out of range`);
    const instance = new WebAssembly.Instance(wasmModule(), { env: { mem: memory } });
    const exports = instance.exports as Record<string, (...args: number[]) => void>;
    this.dotsFn = exports["dots"]!;
    this.exactFn = exports["exact"]!;
    this.tileFn = exports["tile"]!;
    this.d = d;
    const base = memory.buffer.byteLength - (MAX_THREADS - slot) * SCRATCH_BYTES;
    this.queryAt = base;
    const queryBytes = Math.ceil((d * 4) / 8) * 8;
    // ids (4 bytes) + results (8 bytes) per candidate in what is left of the slot.
    this.capacity = Math.floor((SCRATCH_BYTES - queryBytes) / 12);
    if (this.capacity < 64) throw new Error(`rows of ${d} floats leave no scratch space`);
    this.outAt = base + queryBytes;
    this.idsAt = this.outAt + this.capacity * 8;
    const buffer = memory.buffer;
    this.query = new Float32Array(buffer, this.queryAt, d);
    this.ids = new Int32Array(buffer, this.idsAt, this.capacity);
    this.out32 = new Float32Array(buffer, this.outAt, this.capacity);
    this.out64 = new Float64Array(buffer, this.outAt, this.capacity);
    this.outTile = new Float32Array(buffer, this.outAt, 2 * this.capacity);
  }

  /**
   * float32 dots of every row of ids[0 … na) with every row of ids[na … na + nb), into outTile as
   * [na × nb]. Needs d % 4 = 0, na % 4 = 0, nb % 2 = 0, na + nb ≤ capacity, na · nb ≤ 2 · capacity.
   */
  tile(na: number, nb: number): void {
    this.tileFn(this.idsAt, na, this.idsAt + na * 4, nb, this.d, this.outAt);
  }

  /** float32 dots of row `q` (or of `query` when q is −1) with the rows named by the first `count` of `ids`, into `out32`. */
  dots(q: number, count: number): void {
    this.dotsFn(q < 0 ? this.queryAt : q * this.d * 4, this.idsAt, count, this.d, this.outAt);
  }

  /** Exact float64 dots of row `q` with the first `count` of `ids`, into `out64`. */
  exact(q: number, count: number): void {
    this.exactFn(q * this.d * 4, this.idsAt, count, this.d, this.outAt);
  }

  /** Exact float64 dot of rows a and b. */
  exactPair(a: number, b: number): number {
    this.ids[0] = b;
    this.exactFn(a * this.d * 4, this.idsAt, 1, this.d, this.outAt);
    return this.out64[0]!;
  }

  exactMany(q: number, ids: Int32Array, m: number): Float64Array {
    if (m > this.capacity) throw new Error(`exactMany: ${m} rows exceed the scratch capacity ${this.capacity}`);
    this.ids.set(ids.subarray(0, m));
    this.exact(q, m);
    return this.out64;
  }
}

/** Rows copied per `StagedExact` call; more candidates are done in several calls. */
const STAGE_ROWS = 64;

/**
 * The exact kernel over float32 rows held anywhere (a plain or shared ArrayBuffer of any size,
 * e.g. rows too big for one WebAssembly memory): each call copies the query row and the candidate
 * rows into a small private memory and runs the same float64 kernel there, so the dots are the
 * same bits as `Kernel`'s. Copying costs about as much as the kernel's own read of the rows, so
 * it suits the re-ranking of a few dozen candidates per point, not brute force.
 */
export class StagedExact implements ExactKernel {
  private readonly kernel: Kernel;
  private readonly stage: Float32Array;
  private readonly out = new Float64Array(STAGE_ROWS);
  private readonly local = Int32Array.from({ length: STAGE_ROWS }, (_, t) => t + 1);

  constructor(private readonly rows: Float32Array, private readonly d: number) {
    const pages = Math.ceil(((STAGE_ROWS + 1) * d * 4 + MAX_THREADS * SCRATCH_BYTES) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.kernel = new Kernel(memory, d, 0);
    this.stage = new Float32Array(memory.buffer, 0, (STAGE_ROWS + 1) * d);
  }

  private load(slot: number, row: number): void {
    this.stage.set(this.rows.subarray(row * this.d, (row + 1) * this.d), slot * this.d);
  }

  exactPair(a: number, b: number): number {
    this.load(0, a);
    this.load(1, b);
    return this.kernel.exactMany(0, this.local, 1)[0]!;
  }

  exactMany(q: number, ids: Int32Array, m: number): Float64Array {
    const out = m <= this.out.length ? this.out : new Float64Array(m);
    this.load(0, q);
    for (let off = 0; off < m; off += STAGE_ROWS) {
      const c = Math.min(STAGE_ROWS, m - off);
      for (let t = 0; t < c; t++) this.load(t + 1, ids[off + t]!);
      out.set(this.kernel.exactMany(0, this.local, c).subarray(0, c), off);
    }
    return out;
  }
}
