/**
 * Per-tile coordinate quantisation. A tile stores x and y as Uint16 steps across its own quadtree
 * square (`tileBounds(key)`), not as Float32 layout units: a tile's points all lie inside that
 * square, so 16 bits relative to it lose little, and they halve the bytes of the two columns.
 *
 *   q = round((v − lo) / size × COORD_STEPS)        v = lo + q / COORD_STEPS × size
 *
 * where [lo, lo + size] is the square's extent on that axis (size = 2^−z). One step is
 * 2^−z / 65535 layout units: 1.5e−5 at the root, 3.8e−6 at z 2, 9.5e−7 at z 4, and below Float32's
 * own resolution near 1 (6e−8) from z 8 on. A decoded position is within half a step of the
 * layout position. What that means on screen: the map's deepest zoom (fit + 12) shows the unit
 * square about 3 million CSS pixels wide, so there a root point may sit up to ~24 px from its exact
 * place, a z-4 point ~1.5 px; at the fitted view every error is far below a pixel. Deeper tiles hold
 * the points one sees when zoomed in, so the error shrinks as the zoom grows.
 *
 * Pure functions, shared by the tiler, the site build and the map, so all three decode alike.
 */
import { parseKey, tileBounds, type TileKey } from "./tile-keys.ts";

/** Largest stored value: a coordinate on the square's upper/right edge. */
export const COORD_STEPS = 65535;

/** The Uint16 step of layout value `v` in [lo, lo + size]; values outside are clamped. */
export function quantiseCoord(v: number, lo: number, size: number): number {
  const q = Math.round(((v - lo) / size) * COORD_STEPS);
  return q < 0 ? 0 : q > COORD_STEPS ? COORD_STEPS : q;
}

/** The layout value of step `q`, rounded to Float32 as every reader stores it. */
export function dequantiseCoord(q: number, lo: number, size: number): number {
  return Math.fround(lo + (q / COORD_STEPS) * size);
}

/** Layout units per step in a tile at depth `z`. */
export function coordStep(z: number): number {
  return 2 ** -z / COORD_STEPS;
}

/**
 * Decode a tile's x and y columns into layout units. `key` is the tile's `z/x/y` key (or parsed
 * key); `qx` and `qy` are its Uint16 columns. With `interleaved`, the result is one array of
 * (x, y) pairs, as deck.gl's binary `getPosition` with size 2 takes it.
 */
export function decodeTileCoords(key: string | TileKey, qx: Uint16Array, qy: Uint16Array): { x: Float32Array; y: Float32Array } {
  const n = qx.length;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  decodeInto(key, qx, qy, x, y, 1);
  return { x, y };
}

/** As decodeTileCoords, into one interleaved array: x of row i at 2i, y at 2i + 1. */
export function decodeTilePositions(key: string | TileKey, qx: Uint16Array, qy: Uint16Array): Float32Array {
  const out = new Float32Array(2 * qx.length);
  decodeInto(key, qx, qy, out, out.subarray(1), 2);
  return out;
}

function decodeInto(key: string | TileKey, qx: Uint16Array, qy: Uint16Array, x: Float32Array, y: Float32Array, stride: number): void {
  const k = typeof key === "string" ? parseKey(key) : key;
  const n = qx.length;
  if (qy.length !== n) throw new Error(`tile ${k.z}/${k.x}/${k.y}: x has ${n} rows, y has ${qy.length}`);
  const [x0, y0, x1, y1] = tileBounds(k);
  // The same arithmetic as dequantiseCoord: a Float32Array store rounds as Math.fround does.
  for (let i = 0, j = 0; i < n; i++, j += stride) {
    x[j] = x0 + (qx[i]! / COORD_STEPS) * (x1 - x0);
    y[j] = y0 + (qy[i]! / COORD_STEPS) * (y1 - y0);
  }
}
