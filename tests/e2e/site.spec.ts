/**
 * One site, many atlases: the home page groups the atlases by model and hook point, with their
 * figures and build dates; the header's switcher goes from one atlas's map to a sibling's (by
 * keyboard, and as plain links without JavaScript); the home page passes axe-core. The atlases
 * come from atlas.config.json (built by global-setup), so the test reads the config and the
 * served manifests rather than hard-coding ids.
 */
import AxeBuilder from "@axe-core/playwright";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseManifest, type Manifest } from "../../contract/atlas.ts";
import { parseSiteConfig } from "../../contract/site.ts";
import { GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";
import { expect, mapReady, test } from "./fixtures.ts";

const root = resolve(import.meta.dirname, "..", "..");
const configPath = join(root, "atlas.config.json");
const config = parseSiteConfig(JSON.parse(readFileSync(configPath, "utf8")), configPath);

interface Hooks {
  atlasId: string;
  ready: Promise<void>;
  drawnCount(): number;
}

async function manifests(request: import("@playwright/test").APIRequestContext, ids: string[]): Promise<Manifest[]> {
  return Promise.all(
    ids.map(async (id) => {
      const res = await request.get(`/${id}/data/manifest.json`);
      expect(res.ok(), id).toBe(true);
      return parseManifest(await res.json());
    }),
  );
}

/** The config's atlases that share a model and hook point with another config atlas: the switcher's subjects. */
async function siblingPair(request: import("@playwright/test").APIRequestContext): Promise<[Manifest, Manifest]> {
  const all = await manifests(request, config.atlases.map((a) => a.id));
  for (const a of all) {
    const b = all.find((m) => m !== a && m.dictionary.model === a.dictionary.model && m.dictionary.hookName === a.dictionary.hookName);
    if (b) return [a, b];
  }
  throw new Error(`${configPath} lists no two atlases of one model and hook point: ${all.map((m) => `${m.id} (${m.dictionary.model} @ ${m.dictionary.hookName})`).join(", ")}`);
}

test("the home page groups atlases by model and hook point, with width, L0 and build date", async ({ page, request, consoleErrors }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(config.title);
  const ids = config.atlases.map((a) => a.id);
  for (const m of await manifests(request, ids)) {
    const group = page.locator("[data-atlas-group]").filter({ has: page.locator(`[data-atlas-card="${m.id}"]`) });
    await expect(group).toHaveCount(1);
    await expect(group.getByRole("heading", { level: 2 })).toContainText(m.dictionary.model ?? "Unknown model");
    await expect(group.getByRole("heading", { level: 2 })).toContainText(m.dictionary.hookName ?? "unknown hook point");
    // Every card of the group is a dictionary of the same model and hook point.
    for (const other of await group.locator("[data-atlas-card]").evaluateAll((els) => els.map((e) => e.getAttribute("data-atlas-card")!))) {
      const [om] = await manifests(request, [other]);
      expect([om!.dictionary.model, om!.dictionary.hookName]).toEqual([m.dictionary.model, m.dictionary.hookName]);
    }
    const card = page.locator(`[data-atlas-card="${m.id}"]`);
    await expect(card.getByRole("heading", { level: 3 })).toHaveText(m.title);
    await expect(card).toContainText(`${m.dictionary.dSae.toLocaleString("en-US")} features × ${m.dictionary.dIn} dims`);
    if (m.dictionary.k !== null) await expect(card).toContainText(`${m.dictionary.k} (TopK k)`);
    await expect(card.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d{2}-\d{2}$/);
  }
  // Config atlases of one model and hook point sit in one group, in config order.
  const [a, b] = await siblingPair(request);
  const group = page.locator("[data-atlas-group]").filter({ has: page.locator(`[data-atlas-card="${a.id}"]`) });
  await expect(group.locator(`[data-atlas-card="${b.id}"]`)).toHaveCount(1);
  const order = await group.locator("[data-atlas-card]").evaluateAll((els) => els.map((e) => e.getAttribute("data-atlas-card")));
  expect(order.filter((id) => id === a.id || id === b.id)).toEqual(ids.filter((id) => id === a.id || id === b.id));
  expect(consoleErrors).toEqual([]);
});

test("the switcher on a map goes to the sibling atlas's map, by keyboard", async ({ page, request, consoleErrors }) => {
  const [a, b] = await siblingPair(request);
  await page.goto(`/${a.id}/`);
  await mapReady(page);
  expect(await page.evaluate(() => (window as unknown as { __atlas: Hooks }).__atlas.atlasId)).toBe(a.id);

  const summary = page.locator("[data-atlas-switcher] summary");
  await summary.focus();
  await page.keyboard.press("Enter");
  const link = page.locator(`[data-atlas-switcher] a[data-switch-atlas="${b.id}"]`);
  await expect(link).toBeVisible();
  await expect(page.locator("[data-atlas-switcher]").getByRole("link", { name: "All atlases" })).toBeVisible();
  // Escape closes the menu and leaves the map as it was.
  await page.keyboard.press("Escape");
  await expect(link).toBeHidden();
  await expect(summary).toBeFocused();

  await page.keyboard.press("Enter");
  await link.focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/${b.id}/$`));
  await mapReady(page);
  expect(await page.evaluate(() => (window as unknown as { __atlas: Hooks }).__atlas.atlasId)).toBe(b.id);
  await expect.poll(() => page.evaluate(() => (window as unknown as { __atlas: Hooks }).__atlas.drawnCount())).toBeGreaterThanOrEqual(b.tiles[0]!.rows);
  // The sibling's switcher lists the first atlas, and marks itself as the current one.
  await expect(page.locator(`[data-atlas-switcher] a[data-switch-atlas="${a.id}"]`)).toHaveCount(1);
  await expect(page.locator(`[data-atlas-switcher] a[data-switch-atlas="${b.id}"]`)).toHaveAttribute("aria-current", "page");
  expect(consoleErrors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("the switcher on a feature page is plain links", async ({ page, request }) => {
    const [a, b] = await siblingPair(request);
    await page.goto(`/${a.id}/feature/0/`);
    await page.locator("[data-atlas-switcher] summary").click();
    await page.locator(`[data-atlas-switcher] a[data-switch-atlas="${b.id}"]`).click();
    await expect(page).toHaveURL(new RegExp(`/${b.id}/$`));
    await expect(page.locator("[data-map]")).toHaveAttribute("data-atlas", b.id);
  });
});

test("an atlas with no sibling has no switcher", async ({ page }) => {
  // The gpt2 fixture atlas is the only one of its model and hook point.
  await page.goto(`/${GPT2_FIXTURE_ID}/feature/0/`);
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  await expect(page.locator("[data-atlas-switcher]")).toHaveCount(0);
});

async function seriousViolations(page: import("@playwright/test").Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  return serious;
}

test("axe-core: no serious or critical violations on the home page, nor in an open switcher", async ({ page, request }) => {
  await page.goto("/");
  expect(await seriousViolations(page)).toEqual([]);
  const [a] = await siblingPair(request);
  await page.goto(`/${a.id}/feature/0/`);
  await page.locator("[data-atlas-switcher] summary").click();
  expect(await seriousViolations(page)).toEqual([]);
});
