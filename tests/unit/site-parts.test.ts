/**
 * A site built by two processes (scripts/astro-build.ts, src/lib/site-part.ts) is the site one
 * process builds, byte for byte; the parts' shares of a route cover it once; merging refuses two
 * parts that disagree about a file.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAtlas } from "../../precompute/build.ts";
import { astroBuild, autoParts, mergeInto, PARALLEL_FROM, SCRATCH_ROOT } from "../../scripts/astro-build.ts";
import { inThisPart, partRange, sitePart } from "../../src/lib/site-part.ts";
import { cleanTemp, repoRoot, tempDir } from "./helpers/read-files.ts";

function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    files.set(relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
  }
  return files;
}

describe("site parts", () => {
  it("reads SITE_PART and refuses what it cannot mean", () => {
    expect(sitePart(undefined)).toEqual({ index: 0, count: 1 });
    expect(sitePart(" 1 / 3 ")).toEqual({ index: 1, count: 3 });
    for (const bad of ["3/3", "0/0", "1", "a/2", "-1/2", "1/2/3"]) expect(() => sitePart(bad), bad).toThrow(/SITE_PART must be "<i>\/<n>"/);
  });

  it("gives every path of a route to exactly one part, in contiguous shares that differ by at most one", () => {
    for (const length of [0, 1, 2, 3, 7, 64, 1001]) {
      for (const count of [1, 2, 3, 4, 7]) {
        const shares = Array.from({ length: count }, (_, index) => inThisPart(Array.from({ length }, (_, j) => j), { index, count }));
        expect(shares.flat(), `${length} over ${count}`).toEqual(Array.from({ length }, (_, j) => j));
        const sizes = shares.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
    // A route with one path (a home page) is built by part 0 only.
    expect(inThisPart(["home"], { index: 0, count: 2 })).toEqual(["home"]);
    expect(inThisPart(["home"], { index: 1, count: 2 })).toEqual([]);
    expect(partRange(10, { index: 1, count: 4 })).toEqual([3, 5]);
  });

  it("merges a part's folders into another's and refuses a file the parts disagree on", () => {
    const dir = tempDir("atlas-merge-");
    const a = join(dir, "a");
    const b = join(dir, "b");
    for (const [root, files] of [
      [a, { "index.html": "home", "x/feature/1/index.html": "one", "_astro/app.js": "js" }],
      [b, { "index.html": "home", "x/feature/2/index.html": "two", "_astro/app.js": "js" }],
    ] as const) {
      for (const [p, text] of Object.entries(files)) {
        mkdirSync(join(root, p, ".."), { recursive: true });
        writeFileSync(join(root, p), text);
      }
    }
    mergeInto(b, a);
    expect([...tree(a).keys()].sort()).toEqual(["_astro/app.js", "index.html", "x/feature/1/index.html", "x/feature/2/index.html"]);
    expect(readFileSync(join(a, "x/feature/2/index.html"), "utf8")).toBe("two");

    const c = join(dir, "c");
    mkdirSync(join(c, "_astro"), { recursive: true });
    writeFileSync(join(c, "_astro/app.js"), "other js");
    expect(() => mergeInto(c, a)).toThrow(/two parts wrote different bytes to _astro\/app\.js/);
  });

  it("uses one process for small sites and for page budgets", () => {
    const atlases = join(repoRoot, "data"); // no manifests there: zero features
    expect(autoParts({ ATLAS_DIR: atlases }, 8, 64 * 2 ** 30)).toBe(1);
    expect(autoParts({ ATLAS_DIR: atlases, PAGES: "budget", PAGE_BUDGET: "100" }, 8, 64 * 2 ** 30)).toBe(1);
    expect(PARALLEL_FROM).toBeGreaterThan(0);
  });

  describe("building the site in two processes", () => {
    let work: string;
    let one: Map<string, string>;
    let two: Map<string, string>;
    let parts: number;

    beforeAll(async () => {
      work = tempDir("atlas-site-parts-");
      const atlases = join(work, "atlases");
      await buildAtlas({ dictionary: join(repoRoot, "data", "hostile"), out: join(atlases, "hostile"), id: "hostile", quiet: true });
      const env = { ...process.env, ATLAS_DIR: atlases };
      await astroBuild({ outDir: join(work, "one"), parts: 1, env, inherit: false });
      parts = (await astroBuild({ outDir: join(work, "two"), parts: 2, env, inherit: false })).parts;
      one = tree(join(work, "one"));
      two = tree(join(work, "two"));
    });
    afterAll(cleanTemp);

    it("writes the same files with the same bytes as one process", () => {
      expect(parts).toBe(2);
      expect(one.size).toBeGreaterThan(100);
      expect([...two.keys()].sort()).toEqual([...one.keys()].sort());
      for (const [p, hash] of one) expect(two.get(p), p).toBe(hash);
    });

    it("leaves no part folders or scratch folders behind", () => {
      expect(readdirSync(work).sort()).toEqual(["atlases", "one", "two"]);
      expect(existsSync(SCRATCH_ROOT) ? readdirSync(SCRATCH_ROOT) : []).toEqual([]);
    });
  });
});
