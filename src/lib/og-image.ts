/**
 * Link-preview images (Open Graph / Twitter `summary_large_image`), drawn at build time without a
 * browser: an SVG string written here, rasterised by resvg (@resvg/resvg-js, a native binary that
 * ships inside the npm package) with the Inter font from an npm package (OFL; resvg reads TTF, not
 * WOFF2), so the result does not depend on the fonts of the build machine. Node only.
 *
 * Which images an atlas gets is a policy, because each costs time and bytes (see `ogPolicy`).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { Resvg } from "@resvg/resvg-js";
import type { Manifest } from "../../contract/atlas.ts";
import { miniMapSvg, type MiniMapColours, type MiniMapInput } from "./svg-charts.ts";

export const OG_WIDTH = 1200;
export const OG_HEIGHT = 630;

const require = createRequire(import.meta.url);
const interDir = path.dirname(require.resolve("@expo-google-fonts/inter/package.json"));
const FONT_FILES = [
  path.join(interDir, "400Regular", "Inter_400Regular.ttf"),
  path.join(interDir, "700Bold", "Inter_700Bold.ttf"),
];

/**
 * Fonts for the scripts Inter lacks, so that a Chinese, Japanese, Korean, Arabic or Hindi label
 * is drawn rather than left out (resvg skips glyphs no loaded font has). Noto, from the same
 * @expo-google-fonts family of packages as Inter (OFL, static TTF that resvg reads).
 *
 * Only the bold weight: the title (the label) is bold, and resvg uses the nearest weight for
 * the regular lines. Each file is loaded only for an image whose text needs it: resvg-js (2.6)
 * reads and parses its font files for every image (it takes paths, not parsed fonts), and the
 * CJK files are large (bold SC 10.5 MB, KR 6.2 MB; Arabic and Devanagari about 0.2 MB). Measured
 * per image (no mini-map, 15 renders each) on the 2-core build machine at load average 29, so
 * inflated about 2.5× against the ~28 ms on a quiet machine: Latin 71 ms (74 ms before this
 * change: no fallback is loaded), Han 174 ms (68 ms before, as boxes), Hangul 112 ms (66 ms),
 * Arabic 70 ms and Devanagari 85 ms (within noise of before). So an atlas of Chinese labels
 * takes about 2.5× longer for its previews. Install size, unpacked: noto-sans-sc 92 MB,
 * noto-sans-kr 55 MB, noto-sans-arabic 2.9 MB, noto-sans-devanagari 3.2 MB (each package holds
 * all 9 weights and npm cannot install one), against 8 MB for Inter; download 57 + 28 + 1.8 + 1.9 MB.
 *
 * Han covers Chinese and the kanji of Japanese (Noto Sans SC also has kana); Hangul needs its
 * own font. Other scripts (Thai, Hebrew, Ethiopic, …) stay unsupported: add a row here.
 */
const FALLBACK_FONTS: readonly { family: string; pkg: string; file: string; needed: RegExp }[] = [
  {
    family: "Noto Sans SC",
    pkg: "@expo-google-fonts/noto-sans-sc",
    file: "700Bold/NotoSansSC_700Bold.ttf",
    needed: /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Bopomofo}\u3000-\u303f\uff00-\uffef]/u,
  },
  { family: "Noto Sans KR", pkg: "@expo-google-fonts/noto-sans-kr", file: "700Bold/NotoSansKR_700Bold.ttf", needed: /\p{Script=Hangul}/u },
  { family: "Noto Sans Arabic", pkg: "@expo-google-fonts/noto-sans-arabic", file: "700Bold/NotoSansArabic_700Bold.ttf", needed: /\p{Script=Arabic}/u },
  {
    family: "Noto Sans Devanagari",
    pkg: "@expo-google-fonts/noto-sans-devanagari",
    file: "700Bold/NotoSansDevanagari_700Bold.ttf",
    needed: /\p{Script=Devanagari}/u,
  },
];

/** font-family of every preview: Inter first, then the fallbacks in table order. */
const FONT_FAMILY = ["Inter", ...FALLBACK_FONTS.map((f) => f.family)].map((f) => (f.includes(" ") ? `'${f}'` : f)).join(", ");

const fallbackPaths = new Map<string, string | null>();
const warned = new Set<string>();

function fallbackPath(font: (typeof FALLBACK_FONTS)[number]): string | null {
  let p = fallbackPaths.get(font.pkg);
  if (p === undefined) {
    try {
      p = path.join(path.dirname(require.resolve(`${font.pkg}/package.json`)), font.file);
    } catch {
      p = null;
    }
    fallbackPaths.set(font.pkg, p);
  }
  if (p === null && !warned.has(font.pkg)) {
    warned.add(font.pkg);
    console.warn(`og-image: ${font.pkg} is not installed (run npm install); previews leave out ${font.family} text`);
  }
  return p;
}

/** The fallback font files `text` needs (none for text Inter covers). */
export function fallbackFontsFor(text: string): string[] {
  const out: string[] = [];
  for (const font of FALLBACK_FONTS) {
    if (!font.needed.test(text)) continue;
    const p = fallbackPath(font);
    if (p) out.push(p);
  }
  return out;
}

const C = {
  bg: "#f8f8f6",
  text: "#1b1d22",
  muted: "#575d6b",
  accent: "#2f4fcf",
};

const MINIMAP_COLOURS: MiniMapColours = {
  background: "#ffffff",
  frame: "#dfe2e7",
  context: "#b4bac6",
  neighbour: "#6d83e8",
  link: "#9fb0f2",
  feature: "#ff8c00",
  featureRing: "#1b1d22",
  overview: "#c7ccd6",
  overviewWindow: "#2f4fcf",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Rough advance widths of Inter, in em, good enough to wrap a label without measuring glyphs. */
function charWidth(ch: string): number {
  if (/[ .,:;'!|il]/.test(ch)) return 0.28;
  if (/[ftjr()\[\]]/.test(ch)) return 0.36;
  if (/[mwMW@]/.test(ch)) return 0.86;
  if (/[A-Z]/.test(ch)) return 0.68;
  if (/[0-9]/.test(ch)) return 0.6;
  if (/[\u2E80-\uFFEF]/.test(ch)) return 1;
  return 0.55;
}

export function textWidth(s: string, fontSize: number): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch);
  return w * fontSize;
}

/**
 * Greedy word wrap into at most `maxLines` lines of `maxWidth` px; the last line ends with "…"
 * when text is left over. A word longer than a line is cut.
 */
export function wrapText(text: string, fontSize: number, maxWidth: number, maxLines: number): string[] {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = "";
  let i = 0;
  const fits = (s: string): boolean => textWidth(s, fontSize) <= maxWidth;
  while (i < words.length && lines.length < maxLines) {
    const word = words[i]!;
    const next = line ? `${line} ${word}` : word;
    if (fits(next)) {
      line = next;
      i++;
      continue;
    }
    if (!line) {
      // A single word wider than the line: cut it.
      let cut = "";
      for (const ch of word) {
        if (!fits(cut + ch)) break;
        cut += ch;
      }
      lines.push(cut);
      words[i] = word.slice(cut.length);
      continue;
    }
    lines.push(line);
    line = "";
  }
  if (line && lines.length < maxLines) lines.push(line);
  if (i < words.length || lines.length > maxLines) {
    let last = lines[maxLines - 1] ?? "";
    while (last && !fits(`${last}…`)) last = last.slice(0, -1).trimEnd();
    lines.length = Math.min(lines.length, maxLines);
    lines[lines.length - 1] = `${last}…`;
  }
  return lines;
}

export interface PreviewCard {
  /** Small line at the top: the atlas title. */
  kicker: string;
  /** e.g. "Feature #1234" or "Region". */
  eyebrow: string;
  /** The label (or a region name, or the atlas title). */
  title: string;
  /** One or two short facts, e.g. the density in words. */
  facts: string[];
  /** The map drawn on the right; without it the text takes the whole width. */
  map?: Omit<MiniMapInput, "size" | "colours">;
}

/** The preview card as an SVG string, 1200 × 630. */
export function previewSvg(card: PreviewCard): string {
  const mapSize = 500;
  const pad = 64;
  const textWidthAvail = card.map ? OG_WIDTH - mapSize - pad * 3 : OG_WIDTH - pad * 2;
  const size = card.title.length > 60 ? 52 : 64;
  const lines = wrapText(card.title, size, textWidthAvail, 3);
  let y = 150;
  let body = `<text x="${pad}" y="92" font-size="24" fill="${C.muted}">${esc(wrapText(card.kicker, 24, textWidthAvail, 1)[0] ?? "")}</text>`;
  body += `<text x="${pad}" y="${y}" font-size="30" font-weight="700" fill="${C.accent}">${esc(card.eyebrow)}</text>`;
  y += size + 22;
  for (const line of lines) {
    body += `<text x="${pad}" y="${y}" font-size="${size}" font-weight="700" fill="${C.text}">${esc(line)}</text>`;
    y += Math.round(size * 1.18);
  }
  y += 18;
  // Facts fill what room is left above the footer, a whole fact or nothing.
  const footerTop = OG_HEIGHT - 95;
  for (const fact of card.facts.slice(0, 2)) {
    const factLines = wrapText(fact, 28, textWidthAvail, 2);
    if (y + (factLines.length - 1) * 38 > footerTop) break;
    for (const line of factLines) {
      body += `<text x="${pad}" y="${y}" font-size="28" fill="${C.muted}">${esc(line)}</text>`;
      y += 38;
    }
  }
  body += `<text x="${pad}" y="${OG_HEIGHT - 52}" font-size="26" font-weight="700" fill="${C.text}">Feature Atlas</text>`;
  if (card.map) {
    const map = miniMapSvg({ ...card.map, size: mapSize, colours: MINIMAP_COLOURS });
    body += `<g transform="translate(${OG_WIDTH - mapSize - pad} ${(OG_HEIGHT - mapSize) / 2})">${map}</g>`;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${OG_WIDTH}" height="${OG_HEIGHT}" viewBox="0 0 ${OG_WIDTH} ${OG_HEIGHT}" font-family="${FONT_FAMILY}">` +
    `<rect width="${OG_WIDTH}" height="${OG_HEIGHT}" fill="${C.bg}"/>` +
    `<rect width="${OG_WIDTH}" height="10" fill="${C.accent}"/>` +
    body +
    `</svg>`
  );
}

function rasterise(svg: string, fallbacks: boolean) {
  const fontFiles = fallbacks ? [...FONT_FILES, ...fallbackFontsFor(svg)] : FONT_FILES;
  return new Resvg(svg, {
    font: { fontFiles, loadSystemFonts: false, defaultFontFamily: "Inter" },
    shapeRendering: 2,
    textRendering: 1,
    logLevel: "off",
  }).render();
}

/** Rasterise a preview SVG to PNG bytes, with the fallback fonts its text needs. */
export function renderPng(svg: string): Buffer {
  return rasterise(svg, true).asPng();
}

/**
 * Rasterise to raw RGBA pixels (row-major, OG_WIDTH × OG_HEIGHT × 4), for tests; `fallbacks:
 * false` draws with Inter alone, as before the fallback fonts.
 */
export function renderPixels(svg: string, opts: { fallbacks?: boolean } = {}): Uint8Array {
  return new Uint8Array(rasterise(svg, opts.fallbacks ?? true).pixels);
}

// ---- policy -----------------------------------------------------------------------------------

/**
 * `all`: one image per feature. `regions`: one per region of the finest region level with at most
 * OG_MAX_IMAGES regions, each feature pointing at its region's (falls back to `atlas` without
 * regions). `atlas`: one image per atlas. `auto` (default): `all` up to OG_MAX_IMAGES features,
 * else `regions`.
 */
export type OgPolicy = "all" | "regions" | "atlas";

/**
 * Most images `auto` makes per atlas. Measured on the 2-core build machine: ~28 ms and ~70 KB a
 * 1200 × 630 image, so 2,000 images add about a minute and 140 MB to a build.
 */
export const OG_MAX_IMAGES = 2_000;

export function ogPolicy(manifest: Manifest, env: string | undefined = process.env["OG_IMAGES"]): OgPolicy {
  const asked = (env ?? "auto").trim().toLowerCase();
  if (asked !== "auto" && asked !== "all" && asked !== "regions" && asked !== "atlas") {
    throw new Error(`OG_IMAGES must be one of auto, all, regions, atlas; got ${JSON.stringify(env)}`);
  }
  const wanted: OgPolicy = asked === "auto" ? (manifest.counts.features <= OG_MAX_IMAGES ? "all" : "regions") : asked;
  if (wanted === "regions" && !manifest.regions) return "atlas";
  return wanted;
}
