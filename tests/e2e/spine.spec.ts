/**
 * The newcomer's path through the demo atlas: the map draws, hovering shows a label, search finds
 * a feature by a word and opens its page, a neighbour link works, and "show on map" comes back
 * to the map with the feature selected. No console errors anywhere.
 */
import { ATLAS, escapeRegExp, expect, mapReady, test } from "./fixtures.ts";

interface AtlasHooks {
  pointCount(): number;
  drawnCount(): number;
  selected(): number | null;
  screenPosition(id: number): { x: number; y: number } | null;
  viewState(): { x: number; y: number; zoom: number; width: number; height: number };
}
declare global {
  interface Window {
    __atlas: AtlasHooks;
  }
}

test("the home page lists the demo atlas", async ({ page, consoleErrors, atlas }) => {
  await page.goto("/");
  const link = page.getByRole("link", { name: new RegExp(escapeRegExp(atlas.manifest.title)) }).first();
  await expect(link).toBeVisible();
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/`));
  expect(consoleErrors).toEqual([]);
});

test("the map draws every point of the root tile", async ({ page, consoleErrors, atlas }) => {
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const rootRows = atlas.manifest.tiles[0]!.rows;
  await expect.poll(() => page.evaluate(() => window.__atlas.drawnCount())).toBeGreaterThanOrEqual(rootRows);
  expect(await page.evaluate(() => window.__atlas.pointCount())).toBeGreaterThanOrEqual(rootRows);
  expect(consoleErrors).toEqual([]);
});

test("the points are painted where the map places them, and nowhere else", async ({ page, consoleErrors, atlas }) => {
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const canvas = page.locator("[data-map] canvas").first();
  const box = (await canvas.boundingBox())!;
  const ids = Array.from({ length: atlas.manifest.counts.features }, (_, i) => i);
  const positions = (await page.evaluate((ids) => ids.map((id) => window.__atlas.screenPosition(id)), ids)).filter((p) => p !== null);
  expect(positions.length).toBeGreaterThanOrEqual(atlas.manifest.tiles[0]!.rows);
  const png = await page.screenshot({ clip: box });
  // Read the screenshot back in the page (no image library here): the commonest colour is the
  // background; every point's centre must differ from it, and canvas pixels well away from every
  // point (and not under a control) must be it.
  const found = await page.evaluate(
    async ({ b64, box, positions }) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      const { data, width, height } = ctx.getImageData(0, 0, img.width, img.height);
      const rgb = (i: number): number => (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
      const at = (x: number, y: number): number => rgb((Math.round(y) * width + Math.round(x)) * 4);
      const counts = new Map<number, number>();
      for (let i = 0; i < data.length; i += 4) counts.set(rgb(i), (counts.get(rgb(i)) ?? 0) + 1);
      const background = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      const differs = (v: number): boolean =>
        Math.abs((v >> 16) - (background >> 16)) + Math.abs(((v >> 8) & 255) - ((background >> 8) & 255)) + Math.abs((v & 255) - (background & 255)) > 24;
      const inside = positions.filter((p) => p.x - box.x >= 2 && p.y - box.y >= 2 && p.x - box.x < width - 2 && p.y - box.y < height - 2);
      const onCanvas = (x: number, y: number): boolean => {
        const el = document.elementFromPoint(x, y);
        return !!el && el.tagName === "CANVAS";
      };
      const centres = inside.filter((p) => onCanvas(p.x, p.y));
      const painted = centres.filter((p) => differs(at(p.x - box.x, p.y - box.y))).length;
      // Every 8th pixel of the canvas, kept when at least 12 px from every point (a mask of the
      // squares around the points, rather than every point checked at every pixel).
      const near = new Uint8Array(width * height);
      for (const p of positions) {
        const cx = Math.round(p.x - box.x);
        const cy = Math.round(p.y - box.y);
        for (let y = Math.max(0, cy - 11); y <= Math.min(height - 1, cy + 11); y++) near.fill(1, y * width + Math.max(0, cx - 11), y * width + Math.min(width - 1, cx + 11) + 1);
      }
      let far = 0;
      let farPainted = 0;
      for (let y = 4; y < height - 4; y += 8) {
        for (let x = 4; x < width - 4; x += 8) {
          if (near[y * width + x] || !onCanvas(box.x + x, box.y + y)) continue;
          far++;
          if (differs(at(x, y))) farPainted++;
        }
      }
      return { centres: centres.length, painted, far, farPainted };
    },
    { b64: png.toString("base64"), box, positions },
  );
  expect(found.centres).toBeGreaterThan(100);
  // Not all: region names are drawn over the points with a halo of the background's colour, and
  // the palest colours of the density ramp blend to within a few levels of it. deck.gl's
  // ScatterplotLayer and the map's PointLayer both gave 4,000 of the demo's 4,096 (2026-11-29).
  expect(found.painted / found.centres, `${found.painted} of ${found.centres} point centres painted`).toBeGreaterThan(0.95);
  expect(found.far).toBeGreaterThan(100);
  expect(found.farPainted / found.far, `${found.farPainted} of ${found.far} pixels away from every point painted`).toBeLessThan(0.02);
  expect(consoleErrors).toEqual([]);
});

test("hovering a point shows its label", async ({ page, consoleErrors, atlas }) => {
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const points = (await atlas.rootTile()).filter((p) => p.label);
  const positions = await page.evaluate((ids) => ids.map((id) => window.__atlas.screenPosition(id)), points.map((p) => p.id));
  const view = await page.evaluate(() => window.__atlas.viewState());
  // Pick a point that is on screen and at least 10 px from every other point, so the pointer
  // can only mean that one.
  let chosen = -1;
  for (let i = 0; i < points.length && chosen < 0; i++) {
    const a = positions[i];
    if (!a || a.x < 40 || a.y < 80 || a.x > view.width - 40 || a.y > view.height - 40) continue;
    const isolated = positions.every((b, j) => j === i || !b || Math.hypot(a.x - b.x, a.y - b.y) >= 10);
    if (isolated) chosen = i;
  }
  expect(chosen, "an isolated point on screen").toBeGreaterThanOrEqual(0);
  const pos = positions[chosen]!;
  await page.mouse.move(pos.x, pos.y);
  const tooltip = page.getByRole("tooltip");
  await expect(tooltip).toBeVisible();
  await expect(tooltip).toContainText(points[chosen]!.label);
  expect(consoleErrors).toEqual([]);
});

test("search finds a feature by a word, its page links neighbours, and show-on-map selects it", async ({ page, consoleErrors, atlas }) => {
  // A feature from the middle of the atlas, found by the first two words of its label.
  const target = await atlas.feature(Math.floor(atlas.manifest.counts.features / 2) + 7);
  expect(target.label).toBeTruthy();
  const words = target.label!.split(/\s+/).slice(0, 2).join(" ");

  await page.goto(`/${ATLAS}/feature/0/`);
  const box = page.getByRole("combobox", { name: /search/i });
  await box.fill(words);
  const option = page.getByRole("option", { name: new RegExp(escapeRegExp(target.label!)) }).first();
  await expect(option).toBeVisible();
  await option.click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/feature/${target.id}/$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(target.label!);

  // Its nearest neighbours are listed as links, and the first one opens that feature's page.
  const neighbours = page.locator('[data-section="neighbours"]').getByRole("link");
  await expect(neighbours).toHaveCount(target.neighbours.length);
  const first = target.neighbours[0]!;
  await neighbours.first().click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/feature/${first.id}/$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(first.label ?? `Feature #${first.id}`);

  // Back to the map at that feature, selected.
  await page.getByRole("link", { name: /show on map/i }).click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/\\?f=${first.id}`));
  await mapReady(page);
  await expect.poll(() => page.evaluate(() => window.__atlas.selected())).toBe(first.id);
  await expect(page.locator("[data-panel]")).toContainText(first.label ?? `#${first.id}`);
  expect(consoleErrors).toEqual([]);
});

test("search on the map flies to the feature and selects it", async ({ page, consoleErrors, atlas }) => {
  const target = await atlas.feature(11);
  expect(target.label).toBeTruthy();
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const box = page.getByRole("combobox", { name: /search/i });
  await box.fill(target.label!);
  await expect(page.getByRole("listbox").getByRole("option").first()).toBeVisible();
  await box.press("ArrowDown");
  await box.press("Enter");
  await expect.poll(() => page.evaluate(() => window.__atlas.selected())).toBe(target.id);
  // The view is in the URL, so it can be shared.
  await expect(page).toHaveURL(new RegExp(`f=${target.id}`));
  expect(consoleErrors).toEqual([]);
});

test("the URL restores the view", async ({ page, consoleErrors }) => {
  await page.goto(`/${ATLAS}/?x=0.4&y=0.6&z=3`);
  await mapReady(page);
  const v = await page.evaluate(() => window.__atlas.viewState());
  expect(v.x).toBeCloseTo(0.4, 3);
  expect(v.y).toBeCloseTo(0.6, 3);
  expect(v.zoom).toBeCloseTo(3, 3);
  // Nonsense parameters are ignored, not fatal.
  await page.goto(`/${ATLAS}/?x=abc&z=NaN&f=-4`);
  await mapReady(page);
  expect(await page.evaluate(() => window.__atlas.drawnCount())).toBeGreaterThan(0);
  expect(consoleErrors).toEqual([]);
});
