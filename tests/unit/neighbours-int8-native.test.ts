import { describe, expect, it } from "vitest";
import { allocateQuantised, Int8Kernel, nativeInt8, quantiseRow, quantiseRows, type QuantisedRows } from "../../precompute/neighbours/int8.ts";
import { gaussian, rng } from "../../precompute/random.ts";

// The native kernel (precompute/neighbours/native/int8.cc) must give the WebAssembly kernel's bits
// on every instruction-set path this machine runs, or the atlas would depend on the machine.
// npm's install builds it (native/build.mjs); a missing build fails here rather than passing quietly.

function quantised(n: number, d: number, seed: number): QuantisedRows {
  const q = allocateQuantised(n, d);
  const r = rng(seed, "int8-native");
  const row = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    // Some rows at full scale and some tiny, so products reach ±127² and scales differ widely.
    const amp = i % 5 === 0 ? 1e-3 : 1;
    for (let j = 0; j < d; j++) row[j] = gaussian(r) * amp;
    quantiseRow(q, i, row);
  }
  // A row of ±127 everywhere: the largest sums the kernels ever see.
  const extreme = new Float32Array(d).map((_, j) => (j % 3 === 0 ? -1 : 1));
  quantiseRow(q, n - 1, extreme);
  quantiseRow(q, n - 2, extreme);
  return q;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

describe("the native int8 kernel", () => {
  const built = nativeInt8();

  it("is built by the install", () => {
    expect(built, "run `npm run build:native` (npm ci builds it)").not.toBeNull();
  });

  // d = 2,304 (strides a multiple of 32), 200 (stride 208: a last step of 16), 48 (shorter than one wide step).
  for (const d of [2304, 200, 48]) {
    it(`gives the WebAssembly kernel's bits on every path, d = ${d}`, () => {
      expect(built).not.toBeNull();
      const n = 90;
      const q = quantised(n, d, d);
      const wasm = new Int8Kernel(q, 0, "wasm");
      // Tiles of 4·k × 2·m rows (as callers pad them), sizes that leave remainders for every path.
      const a = Int32Array.from({ length: 12 }, (_, t) => (t * 7 + 3) % n).map((v, t) => (t === 11 ? n - 1 : v));
      const b = Int32Array.from({ length: 30 }, (_, t) => (t * 11 + 1) % n).map((v, t) => (t === 29 ? n - 2 : v));
      const list = Int32Array.from({ length: 77 }, (_, t) => (t * 13 + 5) % n);
      const expected = (k: Int8Kernel): { tile: Uint32Array; row: Uint32Array } => {
        k.ids.set(a);
        k.ids.set(b, a.length);
        k.tile(a.length, b.length);
        const tile = bits(k.outTile.subarray(0, a.length * b.length));
        k.ids.set(list);
        k.row(n - 1, list.length);
        return { tile, row: bits(k.out32.subarray(0, list.length)) };
      };
      const want = expected(wasm);
      // The extreme pair (last of a × last of b) is what rows of ±127 give: 127² · d times the scales.
      const scale = new Float32Array(q.memory.buffer, q.scalesAt, n)[n - 1]!;
      const extreme = new Float32Array(want.tile.buffer)[a.length * b.length - 1];
      expect(extreme).toBe(Math.fround(Math.fround(127 * 127 * d) * Math.fround(scale * scale)));
      const paths = Object.keys(built!.paths);
      expect(paths).toContain("plain");
      for (const path of paths) {
        const got = expected(new Int8Kernel(q, 1, path));
        expect(got.tile, path).toEqual(want.tile);
        expect(got.row, path).toEqual(want.row);
      }
      // The default kernel is the fastest native path.
      expect(built!.paths[built!.isa]).toBeDefined();
      expect(expected(new Int8Kernel(q, 2)).tile).toEqual(want.tile);
    });
  }

  it("quantises rows to the JS loop's bytes and scales, leaving dead rows and rows outside the range alone", () => {
    expect(built).not.toBeNull();
    const n = 300;
    const d = 200;
    const r = rng(4, "int8-quantise");
    const unit = new Float32Array(n * d);
    for (let i = 0; i < n * d; i++) unit[i] = gaussian(r) * (Math.floor(i / d) % 7 === 0 ? 1e-6 : 0.05);
    // A row with exact ties at ±0.5 of a step (127 · 0.5 / 127 ⇒ x = 63.5), an all-zero row, a dead row.
    for (let j = 0; j < d; j++) unit[10 * d + j] = j % 2 ? 0.5 : -1;
    unit.fill(0, 11 * d, 12 * d);
    const alive = new Uint8Array(n).fill(1);
    alive[12] = 0;
    const viaJs = allocateQuantised(n, d);
    const viaNative = allocateQuantised(n, d);
    new Int8Array(viaNative.memory.buffer, 12 * viaNative.stride, viaNative.stride).fill(9);
    new Int8Array(viaJs.memory.buffer, 12 * viaJs.stride, viaJs.stride).fill(9);
    quantiseRows(viaJs, unit, alive, 5, 290, "wasm");
    quantiseRows(viaNative, unit, alive, 5, 290);
    const all = (q: QuantisedRows): Uint8Array => new Uint8Array(q.memory.buffer, 0, q.scalesAt + n * 4);
    expect(Buffer.from(all(viaNative)).equals(Buffer.from(all(viaJs)))).toBe(true);
    // The JS loop did quantise (ties rounded away from zero), and left row 12 and rows outside 5 … 290 alone.
    const rows = new Int8Array(viaNative.memory.buffer);
    expect(Array.from(rows.subarray(10 * viaNative.stride, 10 * viaNative.stride + 4))).toEqual([-127, 64, -127, 64]);
    expect(rows[12 * viaNative.stride]).toBe(9);
    expect(rows[4 * viaNative.stride]).toBe(0);
    expect(rows.subarray(300 * viaNative.stride - d, 300 * viaNative.stride).every((v) => v === 0)).toBe(true);
  });

  it("throws on a row id outside the memory instead of reading past it", () => {
    expect(built).not.toBeNull();
    const q = quantised(8, 64, 1);
    const k = new Int8Kernel(q, 0, Object.keys(built!.paths)[0]);
    k.ids.set([0, 1, 2, 3, 4, 1 << 30]);
    expect(() => k.tile(4, 2)).toThrow(/outside the memory/);
    k.ids.set([-1]);
    expect(() => k.row(0, 1)).toThrow(/outside the memory/);
  });

  it("throws on a call with the wrong number of arguments, naming the function", () => {
    expect(built).not.toBeNull();
    const path = Object.values(built!.paths)[0]!;
    const call = (f: unknown, ...args: unknown[]): unknown => (f as (...a: unknown[]) => unknown)(...args);
    expect(() => call(path.tile, new Uint8Array(64), 0, 0)).toThrow(/tile takes 8 arguments/);
    expect(() => call(path.row, new Uint8Array(64), 0)).toThrow(/row takes 7 arguments/);
  });
});
