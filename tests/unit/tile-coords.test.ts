import { describe, expect, it } from "vitest";
import { COORD_STEPS, coordStep, decodeTileCoords, decodeTilePositions, dequantiseCoord, quantiseCoord } from "../../contract/tile-coords.ts";
import { tileBounds } from "../../contract/tile-keys.ts";
import { mulberry32 } from "../../precompute/random.ts";

describe("per-tile coordinate quantisation", () => {
  it("maps a tile's square onto 0…65535, edges included, and clamps outside it", () => {
    const [x0, , x1] = tileBounds({ z: 3, x: 5, y: 2 });
    expect(quantiseCoord(x0, x0, x1 - x0)).toBe(0);
    expect(quantiseCoord(x1, x0, x1 - x0)).toBe(COORD_STEPS);
    expect(quantiseCoord(x0 - 0.01, x0, x1 - x0)).toBe(0);
    expect(quantiseCoord(x1 + 0.01, x0, x1 - x0)).toBe(COORD_STEPS);
    expect(dequantiseCoord(COORD_STEPS, x0, x1 - x0)).toBe(Math.fround(x1));
  });

  it("round-trips within half a step (plus Float32 rounding) at every depth", () => {
    const random = mulberry32(5);
    for (const z of [0, 1, 4, 9, 20]) {
      const size = 2 ** -z;
      let worst = 0;
      for (let i = 0; i < 2000; i++) {
        const lo = Math.floor(random() * 2 ** z) * size;
        const v = lo + random() * size;
        const back = dequantiseCoord(quantiseCoord(v, lo, size), lo, size);
        worst = Math.max(worst, Math.abs(back - v));
      }
      expect(worst).toBeLessThanOrEqual(coordStep(z) / 2 + 2 ** -24);
    }
  });

  it("decodes a tile's columns with the same arithmetic as dequantiseCoord, flat or interleaved", () => {
    const key = "2/1/3";
    const [x0, y0, x1, y1] = tileBounds({ z: 2, x: 1, y: 3 });
    const qx = Uint16Array.from([0, 1, 32768, 65535]);
    const qy = Uint16Array.from([65535, 12345, 7, 0]);
    const { x, y } = decodeTileCoords(key, qx, qy);
    const pos = decodeTilePositions(key, qx, qy);
    for (let i = 0; i < 4; i++) {
      expect(x[i]).toBe(dequantiseCoord(qx[i]!, x0, x1 - x0));
      expect(y[i]).toBe(dequantiseCoord(qy[i]!, y0, y1 - y0));
      expect([pos[2 * i], pos[2 * i + 1]]).toEqual([x[i], y[i]]);
    }
    expect(x[0]).toBe(0.25);
    expect(y[0]).toBe(1);
    expect(() => decodeTileCoords(key, qx, qy.subarray(1))).toThrow(/2\/1\/3: x has 4 rows, y has 3/);
  });
});
