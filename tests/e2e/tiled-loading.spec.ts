/**
 * Tiled loading on an atlas whose quadtree is several levels deep: the map first fetches the
 * tiles its first view needs, zooming in fetches the deeper tiles in view (and no others), and the
 * zoomed view then draws more points than the same area showed before.
 */
import type { Page } from "@playwright/test";
import { tableFromIPC } from "apache-arrow";
import { parseManifest, type Manifest, type TileInfo } from "../../contract/atlas.ts";
import { decodeTileCoords } from "../../contract/tile-coords.ts";
import { parseKey, tileBounds } from "../../contract/tile-keys.ts";
import { intersects, selectTiles, type Rect } from "../../src/client/tile-selection.ts";
import { expect, mapReady, test } from "./fixtures.ts";
import { TILED_CAPACITY, TILED_ID } from "./tiled-atlas.ts";

interface Hooks {
  drawnCount(rect?: Rect): number;
  loadedTiles(): string[];
  viewState(): { x: number; y: number; zoom: number; width: number; height: number };
}

type W = { __atlas: Hooks };
const viewState = (page: Page) => page.evaluate(() => (window as unknown as W).__atlas.viewState());
const loadedTiles = (page: Page) => page.evaluate(() => (window as unknown as W).__atlas.loadedTiles());
const drawnCount = (page: Page, rect?: Rect) => page.evaluate((r) => (window as unknown as W).__atlas.drawnCount(r ?? undefined), rect ?? null);

/** The view's rectangle in layout units, as the map computes it (2^zoom × 256 px per unit). */
function viewRect(v: { x: number; y: number; zoom: number; width: number; height: number }): Rect {
  const scale = 2 ** v.zoom * 256;
  return [v.x - v.width / 2 / scale, v.y - v.height / 2 / scale, v.x + v.width / 2 / scale, v.y + v.height / 2 / scale];
}

test("zooming in fetches the deeper tiles in view, only those, and draws more points there", async ({ page, request, consoleErrors }) => {
  const res = await request.get(`/${TILED_ID}/data/manifest.json`);
  const manifest: Manifest = parseManifest(await res.json());
  const infos = new Map<string, TileInfo>(manifest.tiles.map((t) => [t.key, t]));
  const keyOfPath = new Map(manifest.tiles.map((t) => [t.path, t.key]));
  // The atlas really is a deep quadtree (otherwise this test would prove nothing).
  const depth = Math.max(...manifest.tiles.map((t) => parseKey(t.key).z));
  expect(depth).toBeGreaterThanOrEqual(3);
  expect(manifest.tiles[0]!.rows).toBe(TILED_CAPACITY);

  // Aim at a point of the deepest tile: a dense spot, where zooming in has the most to show.
  const deepest = manifest.tiles.at(-1)!;
  const table = tableFromIPC(new Uint8Array(await (await request.get(`/${TILED_ID}/data/${deepest.path}`)).body()));
  const { x, y } = decodeTileCoords(deepest.key, table.getChild("x")!.toArray() as Uint16Array, table.getChild("y")!.toArray() as Uint16Array);
  const target: [number, number] = [x[0]!, y[0]!];

  const fetched: string[] = [];
  page.on("request", (r) => {
    const m = /\/data\/(tiles\/[^?]+)$/.exec(new URL(r.url()).pathname);
    if (m) fetched.push(keyOfPath.get(m[1]!) ?? `unknown ${m[1]}`);
  });
  // Zoom steps then jump instead of animating, so every view the map passes through is known.
  await page.emulateMedia({ reducedMotion: "reduce" });
  await page.goto(`/${TILED_ID}/?x=${target[0]}&y=${target[1]}`);
  await mapReady(page);

  // First view: exactly the tiles it needs are fetched and drawn.
  const first = await viewState(page);
  const firstRect = viewRect(first);
  const firstWanted = selectTiles(infos, firstRect, 2 ** first.zoom * 256);
  await expect.poll(() => loadedTiles(page).then((k) => k.length)).toBe(firstWanted.length);
  expect([...fetched].sort()).toEqual([...firstWanted].sort());
  const firstRows = firstWanted.reduce((n, k) => n + infos.get(k)!.rows, 0);
  await expect.poll(() => drawnCount(page)).toBe(firstRows);

  // The area the zoomed view will show (zoom-in keeps the centre), and what is drawn in it now.
  const steps = 3;
  const zoomed = { ...first, zoom: first.zoom + steps };
  const zoomedRect = viewRect(zoomed);
  const before = await drawnCount(page, zoomedRect);

  for (let i = 0; i < steps; i++) await page.getByRole("button", { name: "Zoom in" }).click();
  await expect.poll(() => viewState(page).then((v) => v.zoom)).toBeCloseTo(zoomed.zoom, 6);

  const zoomedWanted = selectTiles(infos, zoomedRect, 2 ** zoomed.zoom * 256);
  const added = zoomedWanted.filter((k) => !firstWanted.includes(k));
  expect(added.length, "the zoomed view needs deeper tiles").toBeGreaterThan(0);
  await expect.poll(() => loadedTiles(page).then((keys) => added.filter((k) => keys.includes(k)).length)).toBe(added.length);
  // Points appear: the same area now shows more of them.
  await expect.poll(() => drawnCount(page, zoomedRect)).toBeGreaterThan(before);

  // Each tile was fetched once, and exactly the tiles some view needed: the first view's, the two
  // intermediate zoom steps' and the zoomed view's (zoom-in keeps the centre, so these are known).
  const views = Array.from({ length: steps + 1 }, (_, k) => ({ ...first, zoom: first.zoom + k }));
  const expected = new Set(views.flatMap((v) => selectTiles(infos, viewRect(v), 2 ** v.zoom * 256)));
  await expect.poll(() => loadedTiles(page).then((k) => k.length)).toBe(expected.size);
  expect(new Set(fetched).size).toBe(fetched.length);
  expect([...fetched].sort()).toEqual([...expected].sort());
  // Tiles outside the zoomed view stay unfetched, even at the depths it opens.
  const openDepth = Math.max(...zoomedWanted.map((k) => parseKey(k).z));
  const outside = manifest.tiles.filter((t) => parseKey(t.key).z <= openDepth && !intersects(tileBounds(parseKey(t.key)), zoomedRect));
  const skipped = outside.filter((t) => !expected.has(t.key));
  expect(skipped.length, "some tiles at the opened depths lie outside the view").toBeGreaterThan(0);
  for (const t of skipped) expect(fetched).not.toContain(t.key);
  expect(consoleErrors).toEqual([]);
});
