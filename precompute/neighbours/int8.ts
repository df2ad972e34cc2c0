/**
 * Int8-quantised rows and their dot-product kernel, for the first pass of the partitioned search
 * when the float32 rows are too big for it (see knn.ts `precision`).
 *
 * Why int8, not a projection to fewer dimensions: on the benchmark data (flat clusters: isotropic
 * noise around each centre in all d dimensions) a point's true neighbours differ from the rest of
 * its cluster only in the noise, spread over every dimension. A random or PCA projection to m of
 * d = 2,304 dimensions keeps a correlation of about √(m / d) with the noise dot (0.24 at m = 128),
 * which ranks neighbours no better than chance within a cluster. Int8 keeps every dimension: each
 * row is scaled so its largest |value| is 127 and rounded, an error of at most half a step per
 * value. For a unit row at d = 2,304 (values ~ 0.021 rms, largest ~ 0.075) the step is ~6e-4 and
 * a dot product moves by ~2.5e-4 rms, against ~1e-3 between a point's 15th and 31st nearest
 * cluster mates in a 100,000-point cluster (the largest at 1M). So the search tracks k + 16
 * candidates by int8 dot and re-ranks them with the exact float64 kernel from the float32 rows.
 *
 * Why it is fast: 1M × 2,304 int8 rows take 2.4 GB, so they fit one 4 GiB WebAssembly memory (the
 * float32 rows, 9.7 GB, do not), and a 64 + 128-row block is 0.4 MB instead of 1.8 MB, which stays
 * in L2. The kernel multiplies 16-bit-widened values with `i32x4.dot_i16x8_s` (one x86 `pmaddwd`
 * for 8 products and 4 sums). Integer sums are exact, so a pair's dot is the same bits whichever
 * side it is on, on every machine.
 */
import { createRequire } from "node:module";
import {
  ADD, END, F32_MUL, I32, MAX_THREADS, MUL, SCRATCH_BYTES, V128, V128_ZERO,
  bump, f32Load, f32Store, get, i32, i32Load, name, section, set, simd, uleb, v128Load, vec, whileLess,
} from "./simd.ts";

const PAGE = 65536;
const MAX_PAGES = 65536;

const EXTEND_LOW = simd(0x87);
const EXTEND_HIGH = simd(0x88);
const DOT = simd(0xba);
const I32X4_ADD = simd(0xae);
const i32x4Lane = (l: number): number[] => [...simd(0x1b), l];
const F32_CONVERT_I32 = [0xb2];

/**
 * Block kernel over int8 rows: every pair of 4 "a" rows × 2 "b" rows, eight i32x4 accumulators.
 * Params: 0 aIds, 1 na, 2 bIds, 3 nb, 4 stride (bytes per row, a multiple of 16), 5 out, 6 scales.
 * Locals: 7 ia, 8 jb, 9–12 a rows, 13–14 b rows, 15 byte offset, 16 spare;
 * v128: 17–24 accumulators, 25–28 widened b halves, 29 raw vector, 30–31 widened a halves.
 * Writes out[ia · nb + jb] = float32(Σ qa·qb) · (scale_a · scale_b).
 */
const tileBody = (() => {
  const acc = (i: number, j: number): number => 17 + i * 2 + j;
  const idAt = (ids: number, index: number[]): number[] => [...get(ids), ...index, ...i32(4), ...MUL, ...ADD, ...i32Load];
  const rowAddr = (ids: number, index: number[]): number[] => [...idAt(ids, index), ...get(4), ...MUL];
  const scaleOf = (ids: number, index: number[]): number[] => [...get(6), ...idAt(ids, index), ...i32(4), ...MUL, ...ADD, ...f32Load];
  const widen = (from: number[], lo: number, hi: number): number[] => [
    ...from, ...set(29),
    ...get(29), ...EXTEND_LOW, ...set(lo),
    ...get(29), ...EXTEND_HIGH, ...set(hi),
  ];
  return [
    ...vec([[...uleb(10), I32], [...uleb(15), V128]]),
    ...i32(0), ...set(7),
    ...whileLess(7, 1, [
      ...[0, 1, 2, 3].flatMap((i) => [...rowAddr(0, [...get(7), ...i32(i), ...ADD]), ...set(9 + i)]),
      ...i32(0), ...set(8),
      ...whileLess(8, 3, [
        ...rowAddr(2, get(8)), ...set(13),
        ...rowAddr(2, [...get(8), ...i32(1), ...ADD]), ...set(14),
        ...[0, 1, 2, 3].flatMap((i) => [0, 1].flatMap((j) => [...V128_ZERO, ...set(acc(i, j))])),
        ...i32(0), ...set(15),
        ...whileLess(15, 4, [
          ...widen([...get(13), ...get(15), ...ADD, ...v128Load(0)], 25, 26),
          ...widen([...get(14), ...get(15), ...ADD, ...v128Load(0)], 27, 28),
          ...[0, 1, 2, 3].flatMap((i) => [
            ...widen([...get(9 + i), ...get(15), ...ADD, ...v128Load(0)], 30, 31),
            ...[0, 1].flatMap((j) => [
              ...get(acc(i, j)),
              ...get(30), ...get(25 + 2 * j), ...DOT, ...I32X4_ADD,
              ...get(31), ...get(26 + 2 * j), ...DOT, ...I32X4_ADD,
              ...set(acc(i, j)),
            ]),
          ]),
          ...bump(15, 16),
        ]),
        ...[0, 1, 2, 3].flatMap((i) => [0, 1].flatMap((j) => [
          // out[(ia + i) * nb + jb + j]
          ...get(5), ...get(7), ...i32(i), ...ADD, ...get(3), ...MUL, ...get(8), ...ADD, ...i32(j), ...ADD, ...i32(4), ...MUL, ...ADD,
          ...get(acc(i, j)), ...i32x4Lane(0), ...get(acc(i, j)), ...i32x4Lane(1), ...ADD,
          ...get(acc(i, j)), ...i32x4Lane(2), ...get(acc(i, j)), ...i32x4Lane(3), ...ADD, ...ADD,
          ...F32_CONVERT_I32,
          ...scaleOf(0, [...get(7), ...i32(i), ...ADD]), ...scaleOf(2, [...get(8), ...i32(j), ...ADD]), ...F32_MUL,
          ...F32_MUL,
          ...f32Store,
        ])),
        ...bump(8, 2),
      ]),
      ...bump(7, 4),
    ]),
    ...END,
  ];
})();

/**
 * One row against a list: out[c] = float32(Σ q·row(ids[c])) · (scale_q · scale_ids[c]), the same
 * bits the tile kernel gives that pair (the integer sum is exact in any order, and the scaling is
 * the same two float32 products). For candidate lists that share no rows with each other (the
 * refinement's), where a tile would compute four rows to use one.
 * Params: 0 q (row id), 1 ids, 2 count, 3 stride, 4 out, 5 scales. Locals: 6 c, 7 a, 8 b,
 * 9 end of the q row, 10 spare; v128: 11–12 accumulators, 13 q vector, 14 row vector.
 */
const rowBody = (() => {
  const scaleOf = (id: number[]): number[] => [...get(5), ...id, ...i32(4), ...MUL, ...ADD, ...f32Load];
  const idAt = [...get(1), ...get(6), ...i32(4), ...MUL, ...ADD, ...i32Load];
  const dot = (lane: number[]): number[] => [...get(13), ...lane, ...get(14), ...lane, ...DOT];
  return [
    ...vec([[...uleb(5), I32], [...uleb(4), V128]]),
    ...i32(0), ...set(6),
    ...whileLess(6, 2, [
      ...get(0), ...get(3), ...MUL, ...set(7),
      ...get(7), ...get(3), ...ADD, ...set(9),
      ...idAt, ...get(3), ...MUL, ...set(8),
      ...V128_ZERO, ...set(11), ...V128_ZERO, ...set(12),
      ...whileLess(7, 9, [
        ...get(7), ...v128Load(0), ...set(13),
        ...get(8), ...v128Load(0), ...set(14),
        ...get(11), ...dot(EXTEND_LOW), ...I32X4_ADD, ...set(11),
        ...get(12), ...dot(EXTEND_HIGH), ...I32X4_ADD, ...set(12),
        ...bump(7, 16), ...bump(8, 16),
      ]),
      ...get(11), ...get(12), ...I32X4_ADD, ...set(11),
      ...get(4), ...get(6), ...i32(4), ...MUL, ...ADD,
      ...get(11), ...i32x4Lane(0), ...get(11), ...i32x4Lane(1), ...ADD,
      ...get(11), ...i32x4Lane(2), ...get(11), ...i32x4Lane(3), ...ADD, ...ADD,
      ...F32_CONVERT_I32,
      ...scaleOf(get(0)), ...scaleOf(idAt), ...F32_MUL,
      ...F32_MUL,
      ...f32Store,
      ...bump(6, 1),
    ]),
    ...END,
  ];
})();

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type7 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const type6 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([type7, type6])),
    ...section(2, vec([[...name("env"), ...name("mem"), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]])),
    ...section(3, vec([uleb(0), uleb(1)])),
    ...section(7, vec([[...name("tile"), 0x00, 0], [...name("row"), 0x00, 1]])),
    ...section(10, vec([[...uleb(tileBody.length), ...tileBody], [...uleb(rowBody.length), ...rowBody]])),
  ]);
}

let compiled: WebAssembly.Module | null = null;
function wasmModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(moduleBytes());
  return compiled;
}

/** The native kernels (native/int8.cc): the WebAssembly ones' arguments, after the memory they address. */
interface NativeInt8 {
  /** The instruction set the addon picked on this machine: "avx512bw", "avx2" or "plain". */
  isa: string;
  tile(memory: Uint8Array, a: number, na: number, b: number, nb: number, stride: number, out: number, scales: number): void;
  row(memory: Uint8Array, q: number, ids: number, count: number, stride: number, out: number, scales: number): void;
  quantise(rows: Float32Array, d: number, from: number, to: number, alive: Uint8Array, memory: Uint8Array, stride: number, scalesAt: number): void;
  /** Every path this machine runs, by instruction set (the default one included), for tests. */
  paths: Record<string, Pick<NativeInt8, "tile" | "row">>;
}

let native: NativeInt8 | null | undefined;

/**
 * The native int8 kernel when it was built (npm's install runs native/build.mjs) and
 * FEATURE_ATLAS_INT8_KERNEL is not "wasm"; else null, and the WebAssembly kernel runs. Both give
 * the same bits (native/int8.cc says why), so the atlas does not depend on which ran.
 */
export function nativeInt8(): NativeInt8 | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env["FEATURE_ATLAS_INT8_KERNEL"] !== "wasm") {
    try {
      native = createRequire(import.meta.url)("./native/build/Release/int8.node") as NativeInt8;
    } catch {
      // Not built (no compiler, or installed with --ignore-scripts): the WebAssembly kernel runs.
    }
  }
  return native;
}

/** Which int8 kernel runs, for logs and benchmarks: "native avx512bw", "native avx2", "native plain" or "WebAssembly". */
export function int8KernelName(): string {
  const n = nativeInt8();
  return n ? `native ${n.isa}` : "WebAssembly";
}

/** Int8 rows in one shared WebAssembly memory: `rows` rows of `stride` bytes, their scales, then scratch. */
export interface QuantisedRows {
  memory: WebAssembly.Memory;
  /** Rows held: the n data rows, then spare rows (the search's centroids). */
  rows: number;
  /** Floats per source row. */
  d: number;
  /** Bytes per stored row: d rounded up to a multiple of 16 (zero padded). */
  stride: number;
  /** Byte offset of the float32 scale of every row. */
  scalesAt: number;
}

/** Bytes after the rows: scales, then one scratch slot per thread. */
function layout(rows: number, d: number): { stride: number; scalesAt: number; pages: number } {
  const stride = Math.ceil(d / 16) * 16;
  const scalesAt = Math.ceil((rows * stride) / 16) * 16;
  const pages = Math.ceil((scalesAt + rows * 4 + MAX_THREADS * SCRATCH_BYTES) / PAGE);
  return { stride, scalesAt, pages };
}

/** Whether `rows` int8 rows of d values fit one WebAssembly memory. */
export function quantisedFit(rows: number, d: number): boolean {
  return layout(rows, d).pages <= MAX_PAGES;
}

/** A zeroed int8 store for `rows` rows of d values. */
export function allocateQuantised(rows: number, d: number): QuantisedRows {
  const { stride, scalesAt, pages } = layout(rows, d);
  if (pages > MAX_PAGES) throw new Error(`${rows} × ${d} int8 rows (${((rows * stride) / 2 ** 30).toFixed(1)} GiB) do not fit in a 4 GiB WebAssembly memory`);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  return { memory, rows, d, stride, scalesAt };
}

/**
 * Quantise `values` (d floats) into row `r`: scale = max |value| / 127, each value rounded to the
 * nearest step (ties away from zero, as Math.round on |x|), so |q| ≤ 127 and two products never
 * overflow the kernel's 16-bit pairs. An all-zero row gets scale 0.
 */
export function quantiseRow(q: QuantisedRows, r: number, values: ArrayLike<number>, from = 0): void {
  const { d, stride } = q;
  const bytes = new Int8Array(q.memory.buffer, r * stride, stride);
  let max = 0;
  for (let j = 0; j < d; j++) {
    const v = Math.abs(values[from + j]!);
    if (v > max) max = v;
  }
  const scales = new Float32Array(q.memory.buffer, q.scalesAt, q.rows);
  if (!(max > 0)) {
    bytes.fill(0);
    scales[r] = 0;
    return;
  }
  const inv = 127 / max;
  for (let j = 0; j < d; j++) {
    const x = values[from + j]! * inv;
    bytes[j] = x < 0 ? -Math.round(-x) : Math.round(x);
  }
  scales[r] = max / 127;
}

/**
 * Quantise the alive rows among rows[from … to) of `unit` (n × d float32, row-major) into the same
 * rows of `q`, as `quantiseRow` does each, in native code when it is built (the same bits; 1M ×
 * 2,304 rows take ~60 s in this JS loop). `kernel` "wasm" keeps to the JS loop, for tests.
 */
export function quantiseRows(q: QuantisedRows, unit: Float32Array, alive: Uint8Array, from = 0, to = alive.length, kernel = "auto"): void {
  const fast = kernel === "wasm" ? null : nativeInt8();
  if (fast) {
    fast.quantise(unit, q.d, from, to, alive, new Uint8Array(q.memory.buffer), q.stride, q.scalesAt);
    return;
  }
  for (let i = from; i < to; i++) if (alive[i]) quantiseRow(q, i, unit, i * q.d);
}

/**
 * One thread's handle on the int8 kernel, with the same block interface as the float32 `Kernel`
 * (simd.ts) so that `forBlock` (partitions.ts) drives either. Its `d` is the row stride, always a
 * multiple of 16, so callers take the block path.
 */
export class Int8Kernel {
  readonly d: number;
  readonly ids: Int32Array;
  readonly out32: Float32Array;
  readonly outTile: Float32Array;
  readonly capacity: number;
  private readonly idsAt: number;
  private readonly outAt: number;
  private readonly scalesAt: number;
  private readonly tileFn: (a: number, na: number, b: number, nb: number, stride: number, out: number, scales: number) => void;
  private readonly rowFn: (q: number, ids: number, count: number, stride: number, out: number, scales: number) => void;

  /**
   * `kernel`: "auto" (native when built, else WebAssembly), "wasm", or one native path by
   * instruction set ("avx512bw", "avx2", "plain"; tests compare them).
   */
  constructor(q: QuantisedRows, slot: number, kernel = "auto") {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_THREADS) throw new Error(`kernel slot ${slot} out of range`);
    const built = kernel === "wasm" ? null : nativeInt8();
    const fast = kernel === "auto" || !built ? built : built.paths[kernel];
    if (kernel !== "auto" && kernel !== "wasm" && !fast) throw new Error(`int8 kernel "${kernel}" is not available here (native: ${built ? Object.keys(built.paths).join(", ") : "not built"})`);
    if (fast) {
      const memory = new Uint8Array(q.memory.buffer);
      this.tileFn = (a, na, b, nb, stride, out, scales) => fast.tile(memory, a, na, b, nb, stride, out, scales);
      this.rowFn = (p, ids, count, stride, out, scales) => fast.row(memory, p, ids, count, stride, out, scales);
    } else {
      const instance = new WebAssembly.Instance(wasmModule(), { env: { mem: q.memory } });
      const exports = instance.exports as Record<string, (...args: number[]) => void>;
      this.tileFn = exports["tile"]!;
      this.rowFn = exports["row"]!;
    }
    this.d = q.stride;
    this.scalesAt = q.scalesAt;
    const base = q.memory.buffer.byteLength - (MAX_THREADS - slot) * SCRATCH_BYTES;
    this.capacity = Math.floor(SCRATCH_BYTES / 12);
    this.outAt = base;
    this.idsAt = base + this.capacity * 8;
    const buffer = q.memory.buffer;
    this.ids = new Int32Array(buffer, this.idsAt, this.capacity);
    this.out32 = new Float32Array(buffer, this.outAt, this.capacity);
    this.outTile = new Float32Array(buffer, this.outAt, 2 * this.capacity);
  }

  /** Approximate dots of ids[0 … na) × ids[na … na + nb) into outTile as [na × nb]; na % 4 = 0, nb % 2 = 0. */
  tile(na: number, nb: number): void {
    this.tileFn(this.idsAt, na, this.idsAt + na * 4, nb, this.d, this.outAt, this.scalesAt);
  }

  /** Approximate dots of row q with ids[0 … m) into out32[0 … m), the tile's bits for each pair. */
  row(q: number, m: number): void {
    this.rowFn(q, this.idsAt, m, this.d, this.outAt, this.scalesAt);
  }

  dots(): void {
    throw new Error("Int8Kernel ranks one row against a list with row(), not dots()");
  }
}
