/**
 * Quadtree tile keys. A key `z/x/y` names the square
 * [x / 2^z, (x + 1) / 2^z] × [y / 2^z, (y + 1) / 2^z] of the unit layout square; the root `0/0/0`
 * is the whole square, and each tile has four children at z + 1. Pure functions, shared by the
 * tiler and the map, and tested by round trips.
 */

export interface TileKey {
  z: number;
  x: number;
  y: number;
}

export const ROOT_KEY: TileKey = { z: 0, x: 0, y: 0 };

export function formatKey(k: TileKey): string {
  return `${k.z}/${k.x}/${k.y}`;
}

export function parseKey(s: string): TileKey {
  const m = /^(\d+)\/(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new Error(`not a tile key: ${JSON.stringify(s)}`);
  const k = { z: Number(m[1]), x: Number(m[2]), y: Number(m[3]) };
  const n = 2 ** k.z;
  if (k.x >= n || k.y >= n) throw new Error(`tile key out of range: ${s}`);
  return k;
}

export function parentKey(k: TileKey): TileKey | null {
  if (k.z === 0) return null;
  return { z: k.z - 1, x: k.x >> 1, y: k.y >> 1 };
}

/** The four children, in a fixed order: (0,0), (1,0), (0,1), (1,1). */
export function childKeys(k: TileKey): TileKey[] {
  const z = k.z + 1;
  const x = k.x * 2;
  const y = k.y * 2;
  return [
    { z, x, y },
    { z, x: x + 1, y },
    { z, x, y: y + 1 },
    { z, x: x + 1, y: y + 1 },
  ];
}

/** The square a tile covers: [minX, minY, maxX, maxY]. */
export function tileBounds(k: TileKey): [number, number, number, number] {
  const size = 1 / 2 ** k.z;
  return [k.x * size, k.y * size, (k.x + 1) * size, (k.y + 1) * size];
}

/** Which child of `k` a point falls in; points on the midline go to the upper/right child. */
export function childFor(k: TileKey, px: number, py: number): TileKey {
  const [minX, minY, maxX, maxY] = tileBounds(k);
  const right = px >= (minX + maxX) / 2 ? 1 : 0;
  const up = py >= (minY + maxY) / 2 ? 1 : 0;
  return { z: k.z + 1, x: k.x * 2 + right, y: k.y * 2 + up };
}

/** File-system friendly form of a key, used in tile file names: `z-x-y`. */
export function keyToFileStem(k: TileKey): string {
  return `${k.z}-${k.x}-${k.y}`;
}
