/**
 * Pure helpers behind the feature page, its embed card, previews and 404 page: window trimming,
 * token display, quantile groups, charts, citation, preview policy, the layout grid, the
 * "features in view" list and the 404 explanation.
 */
import { describe, expect, it } from "vitest";
import type { Example, Manifest, Region } from "../../contract/atlas.ts";
import { bibtexEscape, citationBibtex, citationText, describeDictionary, embedSnippet, inputsFingerprint } from "../../src/lib/citation.ts";
import { groupExamples, tokenParts, tokenText, trimWindow } from "../../src/lib/feature-view.ts";
import { makeLayoutIndex, neighbourhoodOf } from "../../src/lib/layout-index.ts";
import { explainMissing } from "../../src/lib/not-found.ts";
import { mapContext } from "../../src/lib/regions.ts";
import { OG_HEIGHT, OG_MAX_IMAGES, OG_WIDTH, ogPolicy, previewSvg, renderPng, wrapText, textWidth } from "../../src/lib/og-image.ts";
import { chooseRegionLevel, regionIndexAtLevel } from "../../src/lib/og-plan.ts";
import { dotPath, histogramSvg, miniMapSvg, neighbourhoodWindow, summariseHistogram } from "../../src/lib/svg-charts.ts";
import { featuresInView, tilePoints } from "../../src/client/features-in-view.ts";

const ex = (tokens: string[], values: number[], bin: [number, number] | null = null): Example => {
  let maxIndex = 0;
  values.forEach((v, i) => (v > values[maxIndex]! ? (maxIndex = i) : 0));
  return { tokens, values, maxIndex, maxValue: values[maxIndex]!, bin };
};

describe("trimWindow", () => {
  it("keeps short windows whole", () => {
    expect(trimWindow({ tokens: ["a", "b", "c"], maxIndex: 1 })).toEqual({ start: 0, end: 3, cutBefore: false, cutAfter: false });
  });
  it("centres the activating token with the given context on each side", () => {
    const tokens = Array.from({ length: 100 }, (_, i) => `t${i}`);
    expect(trimWindow({ tokens, maxIndex: 50 }, 12, 8)).toEqual({ start: 38, end: 59, cutBefore: true, cutAfter: true });
  });
  it("gives the spare context to the other side at either end", () => {
    const tokens = Array.from({ length: 100 }, (_, i) => `t${i}`);
    expect(trimWindow({ tokens, maxIndex: 2 }, 12, 8)).toEqual({ start: 0, end: 21, cutBefore: false, cutAfter: true });
    expect(trimWindow({ tokens, maxIndex: 99 }, 12, 8)).toEqual({ start: 79, end: 100, cutBefore: true, cutAfter: false });
  });
});

describe("tokens", () => {
  it("shows newlines and tabs as glyphs in windows and keeps spaces", () => {
    expect(tokenParts(" the\n")).toEqual([{ text: " the", ws: false }, { text: "↵", ws: true }]);
    expect(tokenParts("\t\tx")).toEqual([{ text: "⇥⇥", ws: true }, { text: "x", ws: false }]);
  });
  it("shows spaces of a lone token, so ' the' and 'the' differ", () => {
    expect(tokenParts(" the", true)).toEqual([{ text: "·", ws: true }, { text: "the", ws: false }]);
    expect(tokenParts("the", true)).toEqual([{ text: "the", ws: false }]);
    expect(tokenParts("", true)).toEqual([{ text: "∅", ws: true }]);
    expect(tokenParts("")).toEqual([]);
  });
  it("spells out whitespace-only tokens in text", () => {
    expect(tokenText(" brigade")).toBe("brigade");
    expect(tokenText("\n")).toBe("↵");
    expect(tokenText("  ")).toBe("··");
  });
});

describe("groupExamples", () => {
  it("groups consecutive examples by bin, top group untitled", () => {
    const groups = groupExamples([ex(["a"], [3]), ex(["b"], [2]), ex(["c"], [1], [0.5, 1.5]), ex(["d"], [0.4], [0, 0.5])]);
    expect(groups.map((g) => [g.title, g.examples.length])).toEqual([
      [null, 2],
      ["Activations between 0.5 and 1.5", 1],
      ["Activations between 0 and 0.5", 1],
    ]);
  });
});

describe("charts", () => {
  it("dotPath rounds to the grid and drops duplicates", () => {
    expect(dotPath([[1.2, 2.6], [1.4, 3.4], [5, 5]])).toBe("M1 3h0M5 5h0");
  });
  it("histogramSvg draws one bar per non-empty bin and describes the distribution", () => {
    const h = { heights: [4, 0, 10, 1], values: [0.5, 1.5, 2.5, 3.5] };
    expect(summariseHistogram(h)).toEqual({ total: 15, min: 0.5, max: 3.5, mode: 2.5 });
    const svg = histogramSvg(h);
    expect(svg.match(/V\d+z/g)?.length).toBe(3);
    expect(svg).toContain('aria-label="Histogram of 15 sampled non-zero activations, from 0.5 to 3.5; the tallest bar is at 2.5."');
  });
  it("neighbourhoodWindow is centred on the feature and bounded by the extent", () => {
    const bounds: [number, number, number, number] = [0, 0, 1, 1];
    const f = { x: 0.5, y: 0.5 };
    expect(neighbourhoodWindow(f, [], bounds)).toEqual([0.46, 0.46, 0.54, 0.54]);
    const far = neighbourhoodWindow(f, [{ x: 1, y: 1 }, { x: 0.9, y: 0.5 }, { x: 0.5, y: 0.9 }, { x: 0.1, y: 0.5 }], bounds);
    expect(far[2] - far[0]).toBeCloseTo(0.6);
  });
  it("miniMapSvg places the feature, links its neighbours and uses classes or colours", () => {
    const input = {
      feature: { id: 7, x: 0.5, y: 0.5 },
      neighbours: [{ id: 8, x: 0.52, y: 0.5, cosine: 0.9 }],
      context: [{ x: 0.49, y: 0.51 }, { x: 5, y: 5 }],
      window: [0.4, 0.4, 0.6, 0.6] as [number, number, number, number],
      size: 100,
    };
    const css = miniMapSvg(input);
    expect(css).toContain('class="mm-feature"');
    expect(css).toContain('<circle cx="50.0" cy="50.0"');
    // 8 px margin + (0.52 − 0.4) × 84 px / 0.2 = 58.4.
    expect(css).toContain("M50.0 50.0L58.4 50.0");
    // The context point outside the window is left out.
    expect(css).toMatch(/class="mm-ctx"/);
    expect((css.match(/d="([^"]*)"[^>]*class="mm-ctx"/)?.[1] ?? "").match(/M/g)?.length).toBe(1);
    const painted = miniMapSvg({ ...input, colours: { background: "#fff", frame: "#eee", context: "#999", neighbour: "#00f", link: "#88f", feature: "#f80", featureRing: "#000", overview: "#ccc", overviewWindow: "#00f" } });
    expect(painted).not.toContain('class="mm-');
    expect(painted).toContain('fill="#f80"');
  });
});

const manifest = {
  id: "gpt2-small-0-res-jb",
  title: "GPT-2 small",
  generator: "feature-atlas 0.1.0",
  dictionary: {
    format: "saelens", architecture: "standard", model: "gpt2-small", hookName: "blocks.0.hook_resid_pre", dIn: 768, dSae: 24576,
    dtype: "F32", k: null, neuronpediaId: "gpt2-small/0-res-jb", rawConfig: {},
  },
  inputs: [
    { role: "config", name: "cfg.json", bytes: 1, sha256: "a".repeat(64) },
    { role: "weights", name: "sae_weights.safetensors", bytes: 2, sha256: "0123456789abcdef".repeat(4) },
  ],
} satisfies Pick<Manifest, "id" | "title" | "generator" | "dictionary" | "inputs">;

describe("citation", () => {
  it("names the dictionary, the feature and the build", () => {
    expect(inputsFingerprint(manifest)).toBe("0123456789ab");
    expect(describeDictionary(manifest)).toBe("gpt2-small · blocks.0.hook_resid_pre · standard SAE, 24,576 features (d_in 768)");
    const text = citationText({ manifest, id: 12, label: "brigades", url: "https://x.org/gpt2-small-0-res-jb/feature/12/" });
    expect(text).toBe(
      "Feature 12 (“brigades”) of gpt2-small · blocks.0.hook_resid_pre · standard SAE, 24,576 features (d_in 768). " +
        "Neuronpedia source gpt2-small/0-res-jb. Feature Atlas “GPT-2 small”, built with feature-atlas 0.1.0 from weights sha256:0123456789ab. " +
        "https://x.org/gpt2-small-0-res-jb/feature/12/",
    );
  });
  it("BibTeX escapes what would break the entry", () => {
    expect(bibtexEscape("50% of {x} & y_z #1 \\")).toBe("50\\% of \\{x\\} \\& y\\_z \\#1 \\textbackslash{}");
    const bib = citationBibtex({ manifest, id: 3, label: "a_b", url: "https://x.org/f/3/" });
    expect(bib.split("\n")[0]).toBe("@misc{gpt2_small_0_res_jb_feature_3,");
    expect(bib).toContain("title = {Feature 3: a\\_b},");
    expect(bib).toContain("howpublished = {\\url{https://x.org/f/3/}},");
    expect(bib).toContain("weights sha256 0123456789ab");
  });
  it("embed snippet escapes the title", () => {
    expect(embedSnippet("https://x.org/e/1/", 'a "b" <c>')).toContain('title="a &quot;b&quot; &lt;c>"');
  });
});

describe("preview images", () => {
  it("wraps text to the width and ellipsises what does not fit", () => {
    const lines = wrapText("one two three four five six seven eight nine ten", 40, 200, 2);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(textWidth(l, 40)).toBeLessThanOrEqual(200);
    expect(lines[1]!.endsWith("…")).toBe(true);
    expect(wrapText("short", 40, 400, 3)).toEqual(["short"]);
  });
  it("policy: env wins, auto switches above OG_MAX_IMAGES, regions need regions", () => {
    const m = (features: number, regions: boolean) => ({ counts: { features }, regions: regions ? { levels: [], members: "m.json" } : null }) as unknown as Manifest;
    expect(ogPolicy(m(100, true), undefined)).toBe("all");
    expect(ogPolicy(m(OG_MAX_IMAGES + 1, true), "auto")).toBe("regions");
    expect(ogPolicy(m(OG_MAX_IMAGES + 1, false), "auto")).toBe("atlas");
    expect(ogPolicy(m(100, true), "atlas")).toBe("atlas");
    expect(() => ogPolicy(m(100, true), "some")).toThrow(/OG_IMAGES must be one of/);
  });
  it("chooses the finest region level within the image budget", () => {
    expect(chooseRegionLevel([{ level: 0, count: 8 }, { level: 1, count: 300 }, { level: 2, count: 5000 }], 2000)).toBe(1);
    expect(chooseRegionLevel([{ level: 0, count: 3000 }], 2000)).toBeNull();
  });
  it("finds each feature's region at a coarser level through the parents", () => {
    const r = (level: number, index: number, parent: string | null) => ({ id: `${level}-${index}`, level, index, parent }) as Region;
    const levels = [[r(0, 0, null), r(0, 1, null)], [r(1, 0, "0-1"), r(1, 1, "0-0"), r(1, 2, "0-1")]];
    expect(Array.from(regionIndexAtLevel([2, 1, -1, 0], levels, 0))).toEqual([1, 0, -1, 1]);
    expect(Array.from(regionIndexAtLevel([2, 1, -1, 0], levels, 1))).toEqual([2, 1, -1, 0]);
  });
  it("renders a 1200 × 630 PNG", () => {
    const png = renderPng(previewSvg({ kicker: "Atlas", eyebrow: "Feature #1", title: "hurricanes and storms", facts: ["fires on 1 % of tokens"] }));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([OG_WIDTH, OG_HEIGHT]);
  });
});

describe("layout index", () => {
  // A 10 × 10 grid of features, id = 10 row + column, at ((c + 0.5) / 10, (r + 0.5) / 10).
  const positions = new Float32Array(200);
  for (let i = 0; i < 100; i++) {
    positions[2 * i] = ((i % 10) + 0.5) / 10;
    positions[2 * i + 1] = (Math.floor(i / 10) + 0.5) / 10;
  }
  positions[2 * 99] = NaN;
  const index = makeLayoutIndex(positions, [0, 0, 1, 1], []);
  it("returns the points inside a rectangle, nearest first", () => {
    const got = index.pointsIn([0.3, 0.3, 0.5, 0.5], { x: 0.45, y: 0.45 }, 10);
    // 44 is at the centre; 34 and 43 one step away (ties by id); 33 diagonal.
    expect(got.map((p) => p.id)).toEqual([44, 34, 43, 33]);
    expect(index.pointsIn([0, 0, 1, 1], { x: 0, y: 0 }, 3).map((p) => p.id)).toEqual([0, 1, 10]);
    // Four points tie one step from 44; the limit cuts through them, and ids decide.
    expect(index.pointsIn([0, 0, 1, 1], { x: 0.45, y: 0.45 }, 3).map((p) => p.id)).toEqual([44, 34, 43]);
    expect(index.pointsIn([0, 0, 1, 1], { x: 0.45, y: 0.45 }, 0)).toEqual([]);
  });
  it("samples a rectangle evenly without sorting", () => {
    const all = index.sampleIn([0, 0, 1, 1], 1000);
    expect(all).toHaveLength(99);
    const some = index.sampleIn([0, 0, 1, 1], 10);
    expect(some).toHaveLength(10);
    // Spread over the grid, not bunched in its first cells.
    expect(Math.max(...some.map((p) => p.y)) - Math.min(...some.map((p) => p.y))).toBeGreaterThan(0.7);
    expect(index.sampleIn([0.3, 0.3, 0.5, 0.5], 10).map((p) => p.id).sort((a, b) => a - b)).toEqual([33, 34, 43, 44]);
  });
  it("finds the same nearest points as sorting the whole rectangle, and samples large windows without visiting each point", () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const n = 20_000;
    const pts = new Float32Array(2 * n);
    // Clumpy, as a map is: half the points in a small blob.
    for (let i = 0; i < n; i++) {
      const blob = i % 2 === 0;
      pts[2 * i] = blob ? 0.3 + 0.05 * random() : random();
      pts[2 * i + 1] = blob ? 0.6 + 0.05 * random() : random();
    }
    const big = makeLayoutIndex(pts, [0, 0, 1, 1], []);
    for (const [rect, centre, limit] of [
      [[0, 0, 1, 1], { x: 0.32, y: 0.62 }, 41],
      [[0.1, 0.1, 0.9, 0.9], { x: 0.8, y: 0.2 }, 160],
      [[0.25, 0.55, 0.4, 0.7], { x: 0.05, y: 0.05 }, 10],
      [[0, 0, 1, 1], { x: 0.5, y: 0.5 }, n + 5],
    ] as const) {
      const brute: { id: number; d: number }[] = [];
      for (let i = 0; i < n; i++) {
        const x = pts[2 * i]!, y = pts[2 * i + 1]!;
        if (x >= rect[0] && x <= rect[2] && y >= rect[1] && y <= rect[3]) brute.push({ id: i, d: (x - centre.x) ** 2 + (y - centre.y) ** 2 });
      }
      brute.sort((a, b) => a.d - b.d || a.id - b.id);
      expect(big.pointsIn([...rect], centre, limit).map((p) => p.id)).toEqual(brute.slice(0, limit).map((p) => p.id));
    }
    const sample = big.sampleIn([0.1, 0.1, 0.9, 0.9], 160);
    expect(sample.length).toBeGreaterThan(150);
    expect(sample.length).toBeLessThanOrEqual(160);
    expect(new Set(sample.map((p) => p.id)).size).toBe(sample.length);
    for (const p of sample) expect(p.x >= 0.1 && p.x <= 0.9 && p.y >= 0.1 && p.y <= 0.9).toBe(true);
    // Evenly over the window's points: its lower part holds ~20% of them (uniform ones only), and gets about that share.
    const lower = sample.filter((p) => p.y < 0.5).length;
    expect(lower).toBeGreaterThan(20);
    expect(lower).toBeLessThan(45);
  });
  it("knows unplaced features", () => {
    expect(index.position(99)).toBeNull();
    expect(index.position(100)).toBeNull();
    expect(index.position(5)).toEqual({ x: Math.fround(0.55), y: Math.fround(0.05) });
  });
  it("neighbourhoodOf leaves the feature out of its context and keeps only placed neighbours", () => {
    const n = neighbourhoodOf(index, { id: 44, x: 0.45, y: 0.45, neighbours: [{ id: 45, cosine: 0.9, label: null }, { id: 99, cosine: 0.8, label: null }] }, 8);
    expect(n.neighbours.map((p) => p.id)).toEqual([45]);
    expect(n.context.some((p) => "id" in p && (p as { id: number }).id === 44)).toBe(false);
    expect(n.context.length).toBeLessThanOrEqual(8);
  });
});

describe("features in view", () => {
  const tile = {
    ids: Uint32Array.from([1, 2, 3, 4]),
    positions: Float32Array.from([0.5, 0.5, 0.1, 0.1, 0.52, 0.5, 0.9, 0.9]),
    labels: { get: (i: number) => ["one", "two", null, "four"][i] ?? null },
  };
  it("lists the points in the view nearest the centre first, once each", () => {
    const rect: [number, number, number, number] = [0.3, 0.3, 0.7, 0.7];
    const got = featuresInView(tilePoints([tile, undefined, tile], rect), rect);
    expect(got.map((p) => [p.id, p.label])).toEqual([[1, "one"], [3, ""]]);
    expect(featuresInView(tilePoints([tile], [0, 0, 1, 1]), [0, 0, 1, 1], 2).map((p) => p.id)).toEqual([1, 3]);
  });
});

describe("404 explanation", () => {
  const atlases = [{ id: "demo", title: "GloVe demo", features: 4096 }, { id: "gpt2", title: "GPT-2", features: 512 }];
  it("says which feature was asked for and the atlas's range", () => {
    const r = explainMissing("/demo/feature/99999/", "/", atlases);
    expect(r.path).toBe("/demo/feature/99999/");
    expect(r.message).toBe("feature 99,999 is out of range: this atlas has features 0–4,095.");
    expect(r.link).toEqual({ href: "/demo/", text: "Open the map of GloVe demo" });
    expect(explainMissing("/demo/embed/feature/5000/", "/", atlases).message).toMatch(/out of range: this atlas has features 0–4,095/);
    expect(explainMissing("/demo/feature/abc/", "/", atlases).message).toBe("“abc” is not a feature number: this atlas has features 0–4,095.");
  });
  it("names unknown atlases and works under a base path", () => {
    expect(explainMissing("/nope/feature/1/", "/", atlases).message).toBe("there is no atlas “nope” on this site. It has 2 atlases: GloVe demo, GPT-2.");
    expect(explainMissing("/sub/gpt2/feature/600/", "/sub/", atlases).message).toBe("feature 600 is out of range: this atlas has features 0–511.");
  });
});

describe("build options", () => {
  it("EMBED_PAGES is all by default, none turns embeds off, anything else is an error", async () => {
    const { embedPagesEnabled } = await import("../../src/lib/build-options.ts");
    expect(embedPagesEnabled(undefined)).toBe(true);
    expect(embedPagesEnabled("none")).toBe(false);
    expect(() => embedPagesEnabled("some")).toThrow(/EMBED_PAGES/);
  });
});

describe("region page map context", () => {
  // A 20 × 20 grid of square regions 0.02 wide, centroids at ((c + 0.5) / 32, (r + 0.5) / 32):
  // sixteenths, so that equal distances are equal in floating point too.
  const square = (i: number, side = 0.02): Region => {
    const x = ((i % 20) + 0.5) / 32;
    const y = (Math.floor(i / 20) + 0.5) / 32;
    const h = side / 2;
    return {
      id: `3-${i}`, level: 3, index: i, parent: null, children: 0, members: 10, centroid: [x, y],
      bounds: [x - h, y - h, x + h, y + h], hull: [[x - h, y - h], [x + h, y - h], [x + h, y + h]],
      name: `r${i}`, slug: `r-${i}`, nameSource: "auto", terms: [], top: [], cohesion: 0.5,
    };
  };
  const level = Array.from({ length: 400 }, (_, i) => square(i));
  const centre = level[210]!; // column 10, row 10

  it("outlines the nearest regions in the frame, never the region itself, ties by index, at most max", () => {
    const got = mapContext(level, centre, [0, 0, 1, 1], 0, 4);
    // The four one step away tie; index decides: 190 (below), 209 (left), 211 (right), 230 (above).
    expect(got.map((r) => r.index)).toEqual([190, 209, 211, 230]);
    const all = mapContext(level, centre, [0, 0, 1, 1], 0, 1000);
    expect(all).toHaveLength(399);
    expect(all.some((r) => r.id === centre.id)).toBe(false);
  });

  it("leaves out regions outside the frame and those too small to see", () => {
    // The frame's left edge is region 207's right edge (column 7, row 10).
    const frame = [level[207]!.bounds[2], 0.25, 0.4, 0.4] as const;
    const inFrame = mapContext(level, centre, frame, 0, 1000);
    const meets = (r: (typeof level)[number]): boolean => r.bounds[0] <= frame[2] && r.bounds[2] >= frame[0] && r.bounds[1] <= frame[3] && r.bounds[3] >= frame[1];
    for (const r of inFrame) expect(meets(r)).toBe(true);
    // Every region that meets the frame, one that only touches its edge included.
    expect(inFrame).toHaveLength(level.filter((r) => r !== centre && meets(r)).length);
    expect(inFrame.map((r) => r.index)).toContain(207);
    expect(inFrame.length).toBeLessThan(399);
    const mixed = level.map((r, i) => (i % 2 === 0 ? square(i, 0.001) : r));
    expect(mapContext(mixed, centre, [0, 0, 1, 1], 0.01, 1000).every((r) => r.index % 2 === 1)).toBe(true);
  });
});
