import { describe, expect, it } from "vitest";
import { childFor, childKeys, formatKey, parentKey, parseKey, ROOT_KEY, tileBounds } from "../../contract/tile-keys.ts";
import { mulberry32 } from "../../precompute/random.ts";

describe("tile keys", () => {
  it("round-trips through text", () => {
    for (const k of [ROOT_KEY, { z: 3, x: 5, y: 2 }, { z: 12, x: 4095, y: 0 }]) {
      expect(parseKey(formatKey(k))).toEqual(k);
    }
  });

  it("rejects malformed and out-of-range keys", () => {
    expect(() => parseKey("1/2")).toThrow(/not a tile key/);
    expect(() => parseKey("1/2/0")).toThrow(/out of range/);
    expect(() => parseKey("../0/0")).toThrow();
  });

  it("children have their parent as parent and tile the parent's square", () => {
    const random = mulberry32(3);
    for (let t = 0; t < 200; t++) {
      const z = Math.floor(random() * 10);
      const k = { z, x: Math.floor(random() * 2 ** z), y: Math.floor(random() * 2 ** z) };
      const [minX, minY, maxX, maxY] = tileBounds(k);
      const kids = childKeys(k);
      expect(kids).toHaveLength(4);
      let area = 0;
      for (const c of kids) {
        expect(parentKey(c)).toEqual(k);
        const [a, b, cc, dd] = tileBounds(c);
        expect(a).toBeGreaterThanOrEqual(minX);
        expect(b).toBeGreaterThanOrEqual(minY);
        expect(cc).toBeLessThanOrEqual(maxX);
        expect(dd).toBeLessThanOrEqual(maxY);
        area += (cc - a) * (dd - b);
      }
      expect(area).toBeCloseTo((maxX - minX) * (maxY - minY), 12);
      // A random point of the parent falls in exactly the child childFor names.
      const px = minX + random() * (maxX - minX);
      const py = minY + random() * (maxY - minY);
      const c = childFor(k, px, py);
      const [a, b, cc, dd] = tileBounds(c);
      expect(px >= a && px <= cc && py >= b && py <= dd).toBe(true);
    }
    expect(parentKey(ROOT_KEY)).toBeNull();
  });
});
