/**
 * Named regions on the demo atlas: names on the map that never overlap and change with the zoom,
 * hover and click on a name, `?r=` links, region pages, the region breadcrumb of feature pages,
 * and regions in search. Expected regions, names and members are read from the atlas's own
 * region files, never hard-coded.
 */
import type { Page } from "@playwright/test";
import { regionLevelFileSchema, regionMembersFileSchema, type Region } from "../../contract/atlas.ts";
import { ATLAS, escapeRegExp, expect, mapReady, test, type AtlasFiles } from "./fixtures.ts";

interface LabelBox {
  slug: string;
  name: string;
  level: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface RegionHooks {
  visibleRegionLabels(): LabelBox[];
  hoveredRegion(): string | null;
  focusedRegion(): string | null;
  viewState(): { x: number; y: number; zoom: number; width: number; height: number };
}

// spine.spec.ts declares Window.__atlas with its own hooks; these go through a cast instead.
const labelsOn = (page: Page): Promise<LabelBox[]> =>
  page.evaluate(() => (window as unknown as { __atlas: RegionHooks }).__atlas.visibleRegionLabels());
const hovered = (page: Page): Promise<string | null> =>
  page.evaluate(() => (window as unknown as { __atlas: RegionHooks }).__atlas.hoveredRegion());
const focused = (page: Page): Promise<string | null> =>
  page.evaluate(() => (window as unknown as { __atlas: RegionHooks }).__atlas.focusedRegion());
const viewOf = (page: Page): Promise<{ x: number; y: number; zoom: number; width: number; height: number }> =>
  page.evaluate(() => (window as unknown as { __atlas: RegionHooks }).__atlas.viewState());

interface Regions {
  levels: Region[][];
  bySlug: Map<string, Region>;
  byId: Map<string, Region>;
  leaf: number[];
}

async function loadRegions(atlas: AtlasFiles, request: import("@playwright/test").APIRequestContext): Promise<Regions> {
  const info = atlas.manifest.regions;
  expect(info, "the demo atlas has regions").not.toBeNull();
  const levels: Region[][] = [];
  for (const entry of info!.levels) {
    const res = await request.get(`/${ATLAS}/data/${entry.path}`);
    expect(res.ok()).toBe(true);
    levels.push(regionLevelFileSchema.parse(await res.json()).regions);
  }
  const res = await request.get(`/${ATLAS}/data/${info!.members}`);
  const leaf = regionMembersFileSchema.parse(await res.json()).leaf;
  const all = levels.flat();
  return { levels, leaf, bySlug: new Map(all.map((r) => [r.slug, r])), byId: new Map(all.map((r) => [r.id, r])) };
}

/** The regions of feature `id`, coarsest first. */
function pathOf(regions: Regions, id: number): Region[] {
  const out: Region[] = [];
  for (let r = regions.levels[regions.levels.length - 1]![regions.leaf[id]!]; r; r = r.parent ? regions.byId.get(r.parent) : undefined) out.push(r);
  return out.reverse();
}

function membersOf(regions: Regions, region: Region): number[] {
  const out: number[] = [];
  regions.leaf.forEach((_, id) => {
    if (regions.leaf[id]! >= 0 && pathOf(regions, id)[region.level]?.id === region.id) out.push(id);
  });
  return out;
}

function expectNoOverlap(labels: LabelBox[]): void {
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i]!;
      const b = labels[j]!;
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      expect(apart, `"${a.name}" and "${b.name}" overlap`).toBe(true);
    }
  }
}

/** Whether every label lies inside the map (the viewport below the header). */
function expectOnScreen(labels: LabelBox[], view: { width: number; height: number }, mapTop: number): void {
  for (const l of labels) {
    expect(l.x).toBeGreaterThanOrEqual(0);
    expect(l.y).toBeGreaterThanOrEqual(mapTop);
    expect(l.x + l.width).toBeLessThanOrEqual(view.width);
    expect(l.y + l.height).toBeLessThanOrEqual(mapTop + view.height);
  }
}

test("region names are drawn without overlapping: continents zoomed out, finer regions zoomed in", async ({ page, consoleErrors, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  await expect.poll(async () => (await labelsOn(page)).length).toBeGreaterThan(2);
  const mapTop = await page.locator("[data-map]").evaluate((e) => e.getBoundingClientRect().top);

  const out = await labelsOn(page);
  const fit = await viewOf(page);
  expect(new Set(out.map((l) => l.level))).toEqual(new Set([0]));
  expectNoOverlap(out);
  expectOnScreen(out, fit, mapTop);
  // The names drawn are the regions' names, as text.
  for (const l of out) expect(regions.bySlug.get(l.slug)?.name).toBe(l.name);
  const drawn = await page.locator(".region-label").evaluateAll((els) => els.map((e) => (e.textContent ?? "").replace(/\s*\n\s*/g, " · ")));
  expect(drawn.sort()).toEqual(out.map((l) => l.name).sort());

  // Zoomed in on the biggest continent's centre: finer names come in, the continents' go.
  const big = regions.levels[0]![0]!;
  const levelsAt = async (dz: number): Promise<LabelBox[]> => {
    await page.goto(`/${ATLAS}/?x=${big.centroid[0]}&y=${big.centroid[1]}&z=${(fit.zoom + dz).toFixed(2)}`);
    await mapReady(page);
    await expect.poll(async () => (await labelsOn(page)).some((l) => l.level > 0)).toBe(true);
    const labels = await labelsOn(page);
    expectNoOverlap(labels);
    expectOnScreen(labels, await viewOf(page), mapTop);
    for (const l of labels) expect(regions.bySlug.get(l.slug)?.level).toBe(l.level);
    return labels;
  };
  const middle = await levelsAt(1.6);
  expect(middle.some((l) => l.level === 1)).toBe(true);
  const finest = regions.levels.length - 1;
  const deep = await levelsAt(3.2);
  await expect.poll(async () => (await labelsOn(page)).some((l) => l.level === finest)).toBe(true);
  expect(deep.every((l) => l.level > 0)).toBe(true);
  expect(new Set(deep.map((l) => l.slug))).not.toEqual(new Set(out.map((l) => l.slug)));
  expect(consoleErrors).toEqual([]);
});

test("hovering a name outlines its region; clicking it fits the map to the region", async ({ page, consoleErrors, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const fit = await viewOf(page);
  const big = regions.levels[0]![0]!;
  await page.goto(`/${ATLAS}/?x=${big.centroid[0]}&y=${big.centroid[1]}&z=${(fit.zoom + 1.6).toFixed(2)}`);
  await mapReady(page);
  await expect.poll(async () => (await labelsOn(page)).some((l) => l.level === 1)).toBe(true);
  const label = (await labelsOn(page)).find((l) => l.level === 1)!;
  const region = regions.bySlug.get(label.slug)!;

  await page.mouse.move(label.x + label.width / 2, label.y + label.height / 2);
  await expect.poll(() => hovered(page)).toBe(label.slug);
  await expect(page.getByRole("tooltip")).toContainText(region.name);
  // Its outline is drawn (the hovered outline polygon has points)…
  await expect(page.locator(".region-outline.hovered")).toHaveAttribute("points", /\d/);
  // Off the map (onto the header): nothing is hovered.
  await page.mouse.move(300, 10);
  await expect.poll(() => hovered(page)).toBeNull();
  // …and goes away with the pointer.
  await expect(page.locator(".region-outline.hovered")).not.toHaveAttribute("points", /./);

  await page.mouse.click(label.x + label.width / 2, label.y + label.height / 2);
  await expect.poll(() => focused(page)).toBe(region.slug);
  await expect(page.locator(".region-outline.focused")).toHaveAttribute("points", /\d/);
  // Once the move has settled, the region's bounds are centred and fill most of the view.
  const [x0, y0, x1, y1] = region.bounds;
  await expect.poll(async () => Math.abs((await viewOf(page)).x - (x0 + x1) / 2), { timeout: 5000 }).toBeLessThan(1e-3);
  const v = await viewOf(page);
  const ppu = 2 ** v.zoom * 256;
  // The region's bounds on screen (map pixels, y down): inside the view, below the region card.
  const box = { left: (x0 - v.x) * ppu + v.width / 2, right: (x1 - v.x) * ppu + v.width / 2, top: (v.y - y1) * ppu + v.height / 2, bottom: (v.y - y0) * ppu + v.height / 2 };
  const card = page.locator(".map-region-card");
  const cardBox = (await card.boundingBox())!;
  const mapBox = (await page.locator("[data-map]").boundingBox())!;
  expect(box.left).toBeGreaterThanOrEqual(0);
  expect(box.right).toBeLessThanOrEqual(v.width);
  expect(box.top).toBeGreaterThanOrEqual(cardBox.y + cardBox.height - mapBox.y);
  expect(box.bottom).toBeLessThanOrEqual(v.height);
  expect(Math.max((box.right - box.left) / v.width, (box.bottom - box.top) / v.height)).toBeGreaterThan(0.6);
  await expect(page).toHaveURL(new RegExp(`[?&]r=${region.slug}`));
  // The card names the region and links to its page.
  await expect(card.getByRole("link", { name: region.name })).toHaveAttribute("href", `/${ATLAS}/region/${region.slug}/`);
  expect(consoleErrors).toEqual([]);
});

test("a region page lists its members and links its parent and sub-regions; show on map fits it", async ({ page, consoleErrors, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  // A middle region: it has both a parent and sub-regions.
  const region = regions.levels[1]!.find((r) => r.children > 1 && r.members <= 300)!;
  const parent = regions.byId.get(region.parent!)!;
  const children = regions.levels[2]!.filter((r) => r.parent === region.id);
  const members = membersOf(regions, region);
  expect(members.length).toBe(region.members);

  await page.goto(`/${ATLAS}/region/${region.slug}/`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(region.name);
  await expect(page).toHaveTitle(new RegExp(escapeRegExp(region.name)));
  await expect(page.locator('meta[property="og:title"]')).toHaveAttribute("content", new RegExp(escapeRegExp(region.name)));
  await expect(page.locator('meta[name="description"]')).toHaveAttribute("content", /features/);

  // Every member, once, with its label linking to its page.
  const listed = await page.locator("[data-member]").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-member"))));
  expect([...listed].sort((a, b) => a - b)).toEqual(members);
  const sample = await atlas.feature(members[0]!);
  const row = page.locator(`[data-member="${sample.id}"]`);
  await expect(row.getByRole("link")).toHaveText(sample.label ?? `Feature #${sample.id}`);
  await expect(row.getByRole("link")).toHaveAttribute("href", `/${ATLAS}/feature/${sample.id}/`);

  // Sub-regions, in order, as links; the first one opens.
  const childLinks = page.locator('[data-section="children"]').getByRole("link");
  await expect(childLinks).toHaveText(children.map((c) => c.name));
  await childLinks.first().click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/region/${children[0]!.slug}/$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(children[0]!.name);

  // Back up through the parent link in the text.
  await page.goto(`/${ATLAS}/region/${region.slug}/`);
  await page.locator("[data-parent]").click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/region/${parent.slug}/$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(parent.name);

  // "Show on map" opens the map fitted to the region.
  await page.goto(`/${ATLAS}/region/${region.slug}/`);
  await page.getByRole("link", { name: /show on map/i }).click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/\\?r=${region.slug}`));
  await mapReady(page);
  await expect.poll(() => focused(page)).toBe(region.slug);
  const v = await viewOf(page);
  expect(v.x).toBeCloseTo((region.bounds[0] + region.bounds[2]) / 2, 3);
  expect(consoleErrors).toEqual([]);
});

test("a region page reads without JavaScript", async ({ browser, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  const region = regions.levels[regions.levels.length - 1]![0]!;
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`/${ATLAS}/region/${region.slug}/`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(region.name);
  await expect(page.locator("[data-member]")).toHaveCount(region.members);
  await expect(page.getByRole("img", { name: /where/i })).toBeVisible();
  await context.close();
});

test("a feature page shows its regions as a breadcrumb whose links work", async ({ page, consoleErrors, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  const id = regions.leaf.findIndex((leaf, i) => leaf >= 0 && i > atlas.manifest.counts.features / 3);
  const path = pathOf(regions, id);
  expect(path.length).toBe(regions.levels.length);

  await page.goto(`/${ATLAS}/feature/${id}/`);
  const crumbs = page.getByRole("navigation", { name: "Breadcrumb" }).locator("[data-region-crumb]");
  await expect(crumbs).toHaveCount(path.length);
  for (let i = 0; i < path.length; i++) {
    await expect(crumbs.nth(i)).toContainText(path[i]!.name);
    await expect(crumbs.nth(i)).toHaveAttribute("href", `/${ATLAS}/region/${path[i]!.slug}/`);
  }
  // The finest region's page lists the feature.
  await crumbs.last().click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(path[path.length - 1]!.name);
  await expect(page.locator(`[data-member="${id}"]`)).toHaveCount(1);
  // And the continent's page is one click away from there.
  await page.getByRole("navigation", { name: "Breadcrumb" }).locator("[data-region-crumb]").first().click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(path[0]!.name);
  expect(consoleErrors).toEqual([]);
});

/** A region with a name word no other region has, so that searching the word must show it. */
function distinctiveRegion(regions: Regions, level: number): { region: Region; word: string } {
  const count = new Map<string, number>();
  const words = (r: Region): string[] => r.name.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 5);
  for (const r of regions.levels.flat()) for (const w of new Set(words(r))) count.set(w, (count.get(w) ?? 0) + 1);
  for (const region of regions.levels[level]!) {
    const word = words(region).find((w) => count.get(w) === 1);
    if (word) return { region, word };
  }
  throw new Error("no region has a word of its own");
}

test("search finds a region by a word of its name and shows it apart from features", async ({ page, consoleErrors, atlas, request }) => {
  const regions = await loadRegions(atlas, request);
  const { region, word } = distinctiveRegion(regions, 1);

  await page.goto(`/${ATLAS}/feature/0/`);
  const box = page.getByRole("combobox", { name: /search/i });
  await box.fill(word);
  const regionGroup = page.getByRole("group", { name: "Regions" });
  const option = regionGroup.getByRole("option", { name: new RegExp(escapeRegExp(region.name)) });
  await expect(option).toBeVisible();
  // Features that share the word are listed too, in their own group, and the region is not among them.
  const featureGroup = page.getByRole("group", { name: "Features" });
  await expect(featureGroup.getByRole("option").first()).toBeVisible();
  await expect(featureGroup.getByRole("option", { name: new RegExp(escapeRegExp(region.name)) })).toHaveCount(0);
  // Keyboard: the first option is the region; Enter opens its page.
  await box.press("ArrowDown");
  await expect(box).toHaveAttribute("aria-activedescendant", (await option.getAttribute("id"))!);
  await box.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/region/${region.slug}/$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(region.name);

  // On the map, choosing the region fits the map to it instead.
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  await page.getByRole("combobox", { name: /search/i }).fill(word);
  await page.getByRole("group", { name: "Regions" }).getByRole("option", { name: new RegExp(escapeRegExp(region.name)) }).click();
  await expect.poll(() => focused(page)).toBe(region.slug);
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/\\?`));
  expect(consoleErrors).toEqual([]);
});
