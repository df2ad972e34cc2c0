/**
 * Dots of decoder rows with a few query directions (region means), for the regions stage.
 *
 * Why not a JS loop: a JS loop over a Float32Array does ~0.3–0.5 G multiply-adds a second on the
 * build machine (V8 does not vectorise it; `npx tsx` microbenchmark, d = 2,304), and the regions
 * stage takes several such passes over all n × d rows. The neighbour stage's WebAssembly float64
 * kernel (`Kernel.exact`: each float32 widened, a fixed summation order, so the same bits on every
 * machine) is several times faster. The rows may be far bigger than a WebAssembly memory (9.7 GB at
 * 1M × 2,304), so each call copies a chunk of them into a small private memory, as `StagedExact`
 * does; unlike it, the queries are vectors, not rows, and stay loaded across calls.
 */
import { Kernel, MAX_THREADS, SCRATCH_BYTES } from "../neighbours/simd.ts";

/** Rows staged per kernel call. */
const STAGE_ROWS = 64;
const PAGE = 65536;

/**
 * A private WebAssembly memory laid out as [query slots][staged rows][kernel scratch]: the query
 * slots hold unit directions (float32), the staged rows a chunk of the rows asked about.
 */
export class RowDots {
  private readonly kernel: Kernel;
  private readonly slots: Float32Array;
  private readonly local: Int32Array;

  constructor(private readonly d: number, private readonly queries: number) {
    const pages = Math.ceil(((queries + STAGE_ROWS) * d * 4 + MAX_THREADS * SCRATCH_BYTES) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.kernel = new Kernel(memory, d, 0);
    this.slots = new Float32Array(memory.buffer, 0, (queries + STAGE_ROWS) * d);
    this.local = Int32Array.from({ length: STAGE_ROWS }, (_, t) => queries + t);
  }

  /** Query slot `slot` = the unit direction of v[at … at + d), whose norm is `norm` (zero stays zero). */
  setQuery(slot: number, v: Float64Array, at: number, norm: number): void {
    const inv = norm > 0 ? 1 / norm : 0;
    const base = slot * this.d;
    for (let t = 0; t < this.d; t++) this.slots[base + t] = v[at + t]! * inv;
  }

  /**
   * Calls `each(q, slot, dot)` for every q in [0, list.length) and query slot in [0, slots): the
   * dot of row list[q] of `unit` with the slot's direction, i.e. their cosine for unit rows.
   * `each` must not call this RowDots: the dots it is handed live in the kernel's scratch.
   */
  run(unit: Float32Array, list: ArrayLike<number>, slots: number, each: (q: number, slot: number, cos: number) => void): void {
    const d = this.d;
    for (let off = 0; off < list.length; off += STAGE_ROWS) {
      const c = Math.min(STAGE_ROWS, list.length - off);
      for (let t = 0; t < c; t++) {
        const i = list[off + t]!;
        this.slots.set(unit.subarray(i * d, (i + 1) * d), (this.queries + t) * d);
      }
      for (let s = 0; s < slots; s++) {
        // The kernel's own result buffer, read in place: only another kernel call rewrites it.
        const dots = this.kernel.exactMany(s, this.local, c);
        for (let t = 0; t < c; t++) each(off + t, s, dots[t]!);
      }
    }
  }
}
