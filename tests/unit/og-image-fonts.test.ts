/**
 * Link previews draw labels in scripts Inter lacks (Han, Hangul, Arabic, Devanagari) with
 * fallback fonts loaded only for the images that need them. Each case is two different words of
 * as many characters, with no combining marks: with Inter alone both render as the same row of
 * "no glyph" boxes (checked), so pixels that differ can only come from real glyphs.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fallbackFontsFor, previewSvg, renderPixels, renderPng } from "../../src/lib/og-image.ts";

const card = (title: string) => previewSvg({ kicker: "Test atlas", eyebrow: "Feature #7", title, facts: ["Fires on 1 token in 1,000"] });

function differing(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  return n;
}

describe("preview fonts", () => {
  const words: [string, string, string][] = [
    ["Han", "台風", "進路"],
    ["Hangul", "태풍", "경로"],
    ["Arabic", "كتاب", "مسار"],
    ["Devanagari", "कमल", "नगर"],
  ];

  it.each(words)("draws %s labels", (_script, one, other) => {
    const fonts = fallbackFontsFor(one);
    expect(fonts).toHaveLength(1);
    expect(existsSync(fonts[0]!)).toBe(true);

    const bareOne = renderPixels(card(one), { fallbacks: false });
    const bareOther = renderPixels(card(other), { fallbacks: false });
    expect(differing(bareOne, bareOther)).toBe(0);
    const drawnOne = renderPixels(card(one));
    const drawnOther = renderPixels(card(other));
    // Two words' glyphs at 64 px differ in thousands of pixels, and neither is the boxes.
    expect(differing(drawnOne, drawnOther)).toBeGreaterThan(1000);
    expect(differing(drawnOne, bareOne)).toBeGreaterThan(1000);
  });

  it("loads no fallback for text Inter covers", () => {
    expect(fallbackFontsFor("hurricane · storm · coast — Ünïcödé Ελληνικά кириллица")).toEqual([]);
    expect(fallbackFontsFor(card("hurricane season"))).toEqual([]);
  });

  it("loads each script's font once per image, however the scripts mix", () => {
    const mixed = fallbackFontsFor(card("台風 태풍 storm 台風"));
    expect(mixed).toHaveLength(2);
    expect(new Set(mixed).size).toBe(2);
    expect(renderPng(card("台風 태풍 storm")).subarray(1, 4).toString("latin1")).toBe("PNG");
  });
});
