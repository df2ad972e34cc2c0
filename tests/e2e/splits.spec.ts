/**
 * Feature splitting across two widths of the demo dictionary (contract/splits.ts): the feature
 * page's "Across widths" section, following a split link to the other atlas's feature page and
 * back, the same section with JavaScript off, and the map's toggle that draws a feature's split
 * children (through the `splitPartners` test hook, src/client/map.ts).
 *
 * The pair comes from global setup (E2E_SPLITS_PAIR = `<small>--<large>`); the features are chosen
 * from the served splits files, never hard-coded.
 */
import type { APIRequestContext } from "@playwright/test";
import { splitShardSchema, splitsIndexSchema, type SplitPartner, type SplitsIndex } from "../../contract/splits.ts";
import { expect, mapReady, test } from "./fixtures.ts";

const PAIR = process.env.E2E_SPLITS_PAIR ?? "";

async function index(request: APIRequestContext): Promise<SplitsIndex> {
  const res = await request.get(`/splits/${PAIR}/splits.json`);
  expect(res.status(), `/splits/${PAIR}/splits.json`).toBe(200);
  return splitsIndexSchema.parse(await res.json());
}

/** A small feature that splits into at least `min` children, the first in id order. */
async function splittingFeature(request: APIRequestContext, idx: SplitsIndex, min: number): Promise<{ id: number; children: SplitPartner[] }> {
  for (const info of idx.small.shards) {
    const shard = splitShardSchema.parse(await (await request.get(`/splits/${PAIR}/${info.path}`)).json());
    for (const [t, list] of shard.features.entries()) {
      const children = list.filter((p) => p.mutual);
      if (children.length >= min) return { id: shard.first + t, children };
    }
  }
  throw new Error(`no feature of ${idx.small.id} splits into ${min} or more`);
}

test.beforeAll(() => {
  if (!PAIR) throw new Error("global setup did not name a splits pair (E2E_SPLITS_PAIR)");
});

test("a feature page names what the feature splits into, and the link leads to the wider atlas's page and back", async ({ page, request, consoleErrors }) => {
  const idx = await index(request);
  const { id, children } = await splittingFeature(request, idx, 2);
  await page.goto(`/${idx.small.id}/feature/${id}/`);
  const group = page.locator(`[data-section="splits"] [data-split-atlas="${idx.large.id}"]`);
  await expect(group.locator("h3")).toContainText(`In the ${idx.large.features.toLocaleString("en-US")}-feature dictionary this feature splits into`);
  // The first list holds exactly the children, most similar first.
  const links = group.locator("ol").first().locator("a[data-split-link]");
  await expect(links).toHaveCount(children.length);
  expect(await links.evaluateAll((as) => as.map((a) => Number((a as HTMLElement).dataset["splitLink"])))).toEqual(children.map((c) => c.id));
  if (children[0]!.label) await expect(links.first()).toContainText(children[0]!.label);

  const child = children[0]!;
  await links.first().click();
  await expect(page).toHaveURL(new RegExp(`/${idx.large.id}/feature/${child.id}/$`));
  await expect(page.locator("h1")).toHaveText(child.label ?? `Feature #${child.id}`);
  // The child's own page leads back: its nearest feature in the narrower atlas is the one we came from.
  const back = page.locator(`[data-section="splits"] [data-split-atlas="${idx.small.id}"]`);
  await expect(back.locator("h3")).toContainText(`In the ${idx.small.features.toLocaleString("en-US")}-feature dictionary this feature is part of`);
  const parentLink = back.locator("ol").first().locator("a[data-split-link]");
  await expect(parentLink).toHaveCount(1);
  await expect(parentLink).toHaveAttribute("data-split-link", String(id));
  await parentLink.click();
  await expect(page).toHaveURL(new RegExp(`/${idx.small.id}/feature/${id}/$`));
  expect(consoleErrors).toEqual([]);
});

test("the section is in the static HTML (JavaScript off) and listed in the page's contents", async ({ browser, request }) => {
  const idx = await index(request);
  const { id, children } = await splittingFeature(request, idx, 1);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`/${idx.small.id}/feature/${id}/`);
  await expect(page.locator('nav.on-page a[href="#splits-title"]')).toHaveText("Across widths");
  await expect(page.locator(`a[href$="/${idx.large.id}/feature/${children[0]!.id}/"][data-split-link]`)).toBeVisible();
  await context.close();
});

test("on the map, the toggle draws the selected feature's split children, and a child opens the wider map", async ({ page, request, consoleErrors }) => {
  const idx = await index(request);
  const { id, children } = await splittingFeature(request, idx, 2);
  await page.goto(`/${idx.small.id}/?f=${id}`);
  await mapReady(page);
  const toggle = page.locator("[data-panel] [data-splits-toggle]");
  await expect(toggle).toHaveAttribute("aria-pressed", "false");
  const hook = () => page.evaluate(() => (window as unknown as { __atlas: { splitPartners(): { atlas: string; id: number; x: number; y: number }[] } }).__atlas.splitPartners());
  expect(await hook()).toEqual([]);

  // Keyboard: focus the toggle and press Enter.
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await expect.poll(async () => (await hook()).map((p) => `${p.atlas}/${p.id}`)).toEqual(children.map((c) => `${idx.large.id}/${c.id}`));
  await expect.poll(() => new URL(page.url()).searchParams.get("splits")).toBe("1");
  // Drawn on screen, around the selected feature.
  const drawn = await hook();
  const box = (await page.locator("[data-map] canvas").boundingBox())!;
  for (const p of drawn) {
    expect(p.x).toBeGreaterThan(box.x);
    expect(p.x).toBeLessThan(box.x + box.width);
    expect(p.y).toBeGreaterThan(box.y);
    expect(p.y).toBeLessThan(box.y + box.height);
  }

  // A child is a link to its own map: hovering names it, clicking opens that map on it. (The
  // click is retried: on a loaded machine a press and release far apart are a drag, not a click.)
  // Partners keep their own map's arrangement, so two may overlap: use the one farthest from the others.
  const spacing = (p: { x: number; y: number }) => Math.min(...drawn.filter((q) => q !== p).map((q) => Math.hypot(q.x - p.x, q.y - p.y)));
  const target = drawn.reduce((best, p) => (spacing(p) > spacing(best) ? p : best));
  expect(spacing(target)).toBeGreaterThan(8);
  await page.mouse.move(target.x, target.y);
  await expect(page.getByRole("tooltip")).toContainText(`#${target.id} in the ${idx.large.features.toLocaleString("en-US")}-feature dictionary`);
  await expect(async () => {
    await page.mouse.click(target.x, target.y);
    await expect(page).toHaveURL(new RegExp(`/${idx.large.id}/\\?f=${target.id}&splits=1`), { timeout: 3000 });
  }).toPass({ timeout: 20_000 });
  await mapReady(page);
  await expect.poll(() => page.evaluate(() => (window as unknown as { __atlas: { selected(): number | null } }).__atlas.selected())).toBe(target.id);
  // The toggle stayed on through the URL: the wider map draws the child's parents, this feature among them.
  await expect.poll(async () => (await hook()).map((p) => `${p.atlas}/${p.id}`)).toContain(`${idx.small.id}/${id}`);

  // Off again: nothing drawn, and the URL forgets it.
  await page.locator("[data-panel] [data-splits-toggle]").click();
  await expect.poll(async () => (await hook()).length).toBe(0);
  expect(new URL(page.url()).searchParams.get("splits")).toBeNull();
  expect(consoleErrors).toEqual([]);
});
