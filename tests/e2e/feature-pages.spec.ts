/**
 * Feature pages as writers and researchers use them: link previews (meta tags and the images
 * behind them), token windows with readable values, the embed card, the 404 page for unknown
 * ids, copy/cite/download, keyboard use, JavaScript off, the map's "Features in view" list, and
 * an axe-core check of every kind of page. The gpt2 atlas is built by global-setup from the real
 * SAEDashboard fixtures (scripts/gpt2-fixture-atlas.ts).
 */
import { readFileSync } from "node:fs";
import AxeBuilder from "@axe-core/playwright";
import type { APIRequestContext, Page } from "@playwright/test";
import { featureShardSchema, parseManifest, shardFor, type FeatureRecord } from "../../contract/atlas.ts";
import { formatActivation } from "../../src/lib/format.ts";
import { GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";
import { ATLAS, expect, mapReady, test } from "./fixtures.ts";

const GPT2 = GPT2_FIXTURE_ID;

async function record(request: APIRequestContext, atlas: string, id: number): Promise<FeatureRecord> {
  const manifest = parseManifest(await (await request.get(`/${atlas}/data/manifest.json`)).json());
  const info = shardFor(manifest, id)!;
  const shard = featureShardSchema.parse(await (await request.get(`/${atlas}/data/${info.path}`)).json());
  return shard.features[id - info.first]!;
}

/** `<meta property|name="key" content="…">` values of an HTML document. */
function metaTags(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<meta\s+([^>]*?)\/?>/g)) {
    const attrs = new Map([...m[1]!.matchAll(/([a-z:-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]));
    const key = attrs.get("property") ?? attrs.get("name");
    if (key && attrs.has("content")) out.set(key, attrs.get("content")!.replace(/&amp;/g, "&").replace(/&quot;/g, '"'));
  }
  return out;
}

async function expectPng(request: APIRequestContext, url: string): Promise<void> {
  const res = await request.get(new URL(url).pathname);
  expect(res.status(), url).toBe(200);
  expect(res.headers()["content-type"]).toMatch(/image\/png/);
  const body = await res.body();
  expect(body.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect([body.readUInt32BE(16), body.readUInt32BE(20)]).toEqual([1200, 630]);
}

async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
}

test.describe("link previews", () => {
  test("every feature page has title, description, a large image card, and the image is a 1200×630 PNG", async ({ request }) => {
    for (const [atlas, id] of [
      [GPT2, 3],
      [ATLAS, 100],
    ] as const) {
      const f = await record(request, atlas, id);
      const html = await (await request.get(`/${atlas}/feature/${id}/`)).text();
      const meta = metaTags(html);
      expect(meta.get("og:title")).toBe(f.label ? `${f.label} — feature ${id}` : `Feature #${id}`);
      expect(meta.get("og:description")).toContain(`Feature ${id} of`);
      expect(meta.get("og:url")).toMatch(new RegExp(`/${atlas}/feature/${id}/$`));
      expect(meta.get("twitter:card")).toBe("summary_large_image");
      expect(meta.get("twitter:image")).toBe(meta.get("og:image"));
      expect(meta.get("og:image:alt")).toBeTruthy();
      await expectPng(request, meta.get("og:image")!);
    }
  });

  test("the small atlas gets one image per feature; the 4,096-feature demo one per region (OG_IMAGES=auto)", async ({ request }) => {
    const gpt2 = metaTags(await (await request.get(`/${GPT2}/feature/2/`)).text());
    expect(new URL(gpt2.get("og:image")!).pathname).toBe(`/${GPT2}/og/feature/2.png`);
    const demo = metaTags(await (await request.get(`/${ATLAS}/feature/100/`)).text());
    expect(new URL(demo.get("og:image")!).pathname).toMatch(new RegExp(`^/${ATLAS}/og/(region/[a-z0-9-]+|atlas)\\.png$`));
    await expectPng(request, new URL(`/${ATLAS}/og/atlas.png`, "http://x").href);
  });
});

test("token windows: quantile groups, whitespace made visible, values on hover and on keyboard focus", async ({ page, request, consoleErrors }) => {
  const f = await record(request, GPT2, 0);
  expect(f.examples.some((e) => e.bin !== null), "the fixture has quantile groups").toBe(true);
  await page.goto(`/${GPT2}/feature/0/`);
  const section = page.locator('[data-section="examples"]');
  await expect(section.getByRole("heading", { name: /^Activations between/ }).first()).toBeVisible();
  const windows = section.locator("li.window");
  await expect(windows).toHaveCount(f.examples.length);

  // The first window's peak token carries the example's max value.
  const first = f.examples[0]!;
  const peak = windows.first().locator("mark.peak");
  await expect(peak).toHaveAttribute("data-v", formatActivation(first.maxValue));
  // A newline in the data shows as ↵ somewhere on the page.
  if (f.examples.some((e) => e.tokens.some((t) => t.includes("\n")))) await expect(section.locator(".ws", { hasText: "↵" }).first()).toBeAttached();

  const after = (sel: string) => page.locator(sel).first().evaluate((el) => getComputedStyle(el, "::after").content);
  expect(await after("li.window >> nth=0 >> mark.peak")).toBe("none");
  await peak.hover();
  expect(await after("li.window >> nth=0 >> mark.peak")).toBe(`"${formatActivation(first.maxValue)}"`);
  await page.mouse.move(0, 0);
  await windows.first().focus();
  expect(await after("li.window >> nth=0 >> mark.peak")).toBe(`"${formatActivation(first.maxValue)}"`);

  // Histogram and logits from the same fixture.
  expect(f.histogram).toBeTruthy();
  await expect(page.locator('[data-section="distribution"] svg[role="img"]')).toHaveAttribute("aria-label", /Histogram of/);
  await expect(page.locator('[data-section="logits"] .logit-list.positive li')).toHaveCount(f.logits!.positive.length);
  expect(consoleErrors).toEqual([]);
});

test("the embed card: no header or search, the label, examples, the mini-map, links to a new tab", async ({ page, request, consoleErrors }) => {
  const f = await record(request, GPT2, 3);
  await page.goto(`/${GPT2}/embed/feature/3/`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(f.label ?? "Feature #3");
  await expect(page.locator(".site-header")).toHaveCount(0);
  await expect(page.getByRole("combobox")).toHaveCount(0);
  await expect(page.locator("svg.minimap")).toBeVisible();
  await expect(page.locator("li.window").first()).toBeVisible();
  const links = page.locator("a");
  expect(await links.count()).toBeGreaterThan(0);
  for (const a of await links.all()) {
    await expect(a).toHaveAttribute("target", "_blank");
    await expect(a).toHaveAttribute("rel", /noopener/);
  }
  expect(await page.locator("meta[name=robots]").getAttribute("content")).toBe("noindex");

  // The feature page offers the snippet that frames exactly this page.
  await page.goto(`/${GPT2}/feature/3/`);
  const snippet = await page.locator("#embed-snippet").textContent();
  expect(snippet).toMatch(new RegExp(`<iframe src="[^"]*/${GPT2}/embed/feature/3/"`));
  expect(consoleErrors).toEqual([]);
});

test("an unknown feature id gets a 404 page that says what was asked for and offers search", async ({ page, atlas, consoleErrors }) => {
  const res = await page.goto(`/${ATLAS}/feature/99999/`);
  expect(res?.status()).toBe(404);
  const last = (atlas.manifest.counts.features - 1).toLocaleString("en-US");
  await expect(page.locator("[data-not-found-message]")).toContainText(`/${ATLAS}/feature/99999/`);
  await expect(page.locator("[data-not-found-message]")).toContainText(`this atlas has features 0–${last}`);
  await expect(page.getByRole("combobox", { name: "Search features by label or id" })).toBeVisible();
  // With several atlases the search offers a choice, preset to the atlas in the address.
  await expect(page.getByLabel("Atlases to look in")).toHaveValue(ATLAS);
  await page.locator("[data-not-found-hint] a").click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/$`));
  // The only console error allowed is the browser's own report of the 404 status itself.
  expect(consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
  expect(consoleErrors.length).toBeLessThanOrEqual(1);
});

test("keyboard alone: Tab reaches search, show on map and the neighbours; Enter follows a neighbour", async ({ page, consoleErrors, atlas }) => {
  const f = await atlas.feature(100);
  await page.goto(`/${ATLAS}/feature/100/`);
  const reached = new Set<string>();
  let neighbourFocused = false;
  for (let i = 0; i < 120 && !neighbourFocused; i++) {
    await page.keyboard.press("Tab");
    const what = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return "";
      if (el.getAttribute("role") === "combobox") return "search";
      if (el.hasAttribute("data-show-on-map")) return "show-on-map";
      if (el.closest('[data-section="neighbours"]') && el.tagName === "A") return "neighbour";
      if (el.classList.contains("skip-link")) return "skip";
      return "";
    });
    if (what) reached.add(what);
    neighbourFocused = what === "neighbour";
  }
  expect([...reached].sort()).toEqual(["neighbour", "search", "show-on-map", "skip"]);
  // The focused element shows a focus ring.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).not.toBe("none");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/feature/${f.neighbours[0]!.id}/$`));
  expect(consoleErrors).toEqual([]);
});

test("copy link, citation and the per-feature JSON download", async ({ page, context, request, consoleErrors }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const f = await record(request, GPT2, 2);
  await page.goto(`/${GPT2}/feature/2/`);
  const url = await page.locator("#feature-link").inputValue();
  expect(url).toMatch(new RegExp(`/${GPT2}/feature/2/$`));
  await page.locator(".actions").getByRole("button", { name: "Copy link" }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url);

  const cite = await page.locator("#cite-text").textContent();
  expect(cite).toContain("Feature 2");
  expect(cite).toContain("gpt2-small · blocks.0.hook_resid_pre");
  const manifest = parseManifest(await (await request.get(`/${GPT2}/data/manifest.json`)).json());
  const weights = manifest.inputs.find((i) => i.role === "weights")!;
  expect(cite).toContain(`sha256:${weights.sha256.slice(0, 12)}`);
  expect(cite).toContain(manifest.generator);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download this feature (JSON)" }).click()]);
  expect(download.suggestedFilename()).toBe(`${GPT2}-feature-2.json`);
  const saved = JSON.parse(readFileSync((await download.path())!, "utf8")) as FeatureRecord;
  expect(saved).toEqual(f);
  expect(consoleErrors).toEqual([]);
});

test("with JavaScript off the page still shows its evidence, the mini-map and a data link, and hides JS-only buttons", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`/${GPT2}/feature/0/`);
  await expect(page.locator("svg.minimap")).toBeVisible();
  await expect(page.locator("svg.histogram")).toBeVisible();
  await expect(page.locator("li.window").first()).toBeVisible();
  const jsOnly = page.locator("button[data-copy], button[data-download-json]");
  expect(await jsOnly.count()).toBeGreaterThanOrEqual(5);
  for (const b of await jsOnly.all()) await expect(b).toBeHidden();
  const shard = page.locator("[data-shard-link]");
  await expect(shard).toBeVisible();
  const res = await page.request.get((await shard.getAttribute("href"))!);
  expect(res.ok()).toBe(true);
  await context.close();
});

test("the map's 'Features in view' list selects a feature with the keyboard", async ({ page, consoleErrors }) => {
  await page.goto(`/${ATLAS}/`);
  await mapReady(page);
  const toggle = page.getByRole("button", { name: "Features in view" });
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  const items = page.locator(".fiv-list button");
  await expect(items.first()).toBeFocused();
  expect(await items.count()).toBeGreaterThan(5);
  await page.keyboard.press("ArrowDown");
  await expect(items.nth(1)).toBeFocused();
  const id = Number(await items.nth(1).getAttribute("data-id"));
  await page.keyboard.press("Enter");
  await expect.poll(() => page.evaluate(() => (window as unknown as { __atlas: { selected(): number | null } }).__atlas.selected())).toBe(id);
  await page.keyboard.press("Escape");
  expect(consoleErrors).toEqual([]);
});

test.describe("accessibility (axe-core): no serious or critical violations", () => {
  test("map page", async ({ page }) => {
    await page.goto(`/${ATLAS}/`);
    await mapReady(page);
    await page.getByRole("button", { name: "Features in view" }).click();
    expect(await seriousViolations(page)).toEqual([]);
  });

  test("feature pages (word list and token windows) and the embed card", async ({ page }) => {
    for (const path of [`/${ATLAS}/feature/100/`, `/${GPT2}/feature/0/`, `/${GPT2}/embed/feature/0/`]) {
      await page.goto(path);
      expect(await seriousViolations(page), path).toEqual([]);
    }
  });

  test("region page, when the build has regions", async ({ page }) => {
    await page.goto(`/${ATLAS}/feature/100/`);
    const regionLinks = page.locator('a[href*="/region/"]');
    // The demo build names regions (manifest.regions); its feature pages link them in the breadcrumb.
    await expect(regionLinks.first()).toBeAttached();
    await page.goto((await regionLinks.first().getAttribute("href"))!);
    expect(await seriousViolations(page)).toEqual([]);
  });

  test("search with its results listbox open, and the 404 page", async ({ page, atlas }) => {
    const f = await atlas.feature(7);
    await page.goto(`/${ATLAS}/feature/0/`);
    await page.getByRole("combobox", { name: /search/i }).fill(f.label!.split(/\s+/)[0]!);
    await expect(page.getByRole("listbox").getByRole("option").first()).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
    await page.goto(`/${ATLAS}/feature/99999/`);
    expect(await seriousViolations(page)).toEqual([]);
  });
});
