/**
 * A site built with a page budget (PAGES=budget, see src/lib/page-set.ts): global-setup.ts builds
 * it from the gpt2 and hostile atlases with static pages for three listed features only, and
 * serves it as GitHub Pages does (404.html) and as Netlify does (`_redirects` 200 rewrites).
 * Every other feature must still be readable at its own URL, drawn in the browser from its shard.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { APIRequestContext, Page } from "@playwright/test";
import { featureShardSchema, parseManifest, shardFor, type FeatureRecord } from "../../contract/atlas.ts";
import { GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";
import { HOSTILE_ID } from "../../scripts/make-hostile-dictionary.ts";
import { LEAN_EXAMPLES } from "../../src/lib/build-options.ts";
import { BUDGET_FILES, BUDGET_PAGE_LIST } from "./budget-site.ts";
import { expect, test } from "./fixtures.ts";

const github = process.env.E2E_BUDGET_URL!;
const netlify = process.env.E2E_BUDGET_REWRITE_URL!;
const dist = process.env.E2E_BUDGET_DIST!;

async function record(request: APIRequestContext, atlas: string, id: number): Promise<FeatureRecord> {
  const manifest = parseManifest(await (await request.get(`${github}/${atlas}/data/manifest.json`)).json());
  const info = shardFor(manifest, id)!;
  const shard = featureShardSchema.parse(await (await request.get(`${github}/${atlas}/data/${info.path}`)).json());
  return shard.features[id - shard.first]!;
}

/** The fallback article shows the record: heading, examples, logits and neighbours, as text. */
async function expectFeature(page: Page, f: FeatureRecord): Promise<void> {
  const article = page.locator("article[data-fallback]");
  await expect(article).toBeVisible();
  expect(await article.locator("h1").textContent()).toBe(f.label ?? `Feature #${f.id}`);
  expect(await page.locator('[data-section="examples"] .window, [data-section="examples"] .word-bars li').count()).toBe(f.examples.length);
  const examples = (await page.locator('[data-section="examples"]').textContent()) ?? "";
  for (const e of f.examples) {
    const peak = e.tokens[e.maxIndex]!;
    if (peak.trim() && !/\s/.test(peak.trim())) expect(examples).toContain(peak.trim());
  }
  expect(await page.locator('[data-section="logits"] li').count()).toBe(f.logits ? f.logits.positive.length + f.logits.negative.length : 0);
  const links = page.locator('[data-section="neighbours"] a');
  expect(await links.count()).toBe(f.neighbours.length);
  for (const [i, n] of f.neighbours.entries()) expect(await links.nth(i).getAttribute("href")).toBe(`/${page.url().split("/")[3]}/feature/${n.id}/`);
  // The 404 text is gone, and nothing the record says ran as markup.
  await expect(page.locator("[data-not-found]")).toBeHidden();
  expect(await page.evaluate(() => [...document.querySelectorAll("*")].some((el) => [...el.attributes].some((a) => /^on/i.test(a.name))))).toBe(false);
}

test("the budgeted site stays within its file budget and has static pages for the listed features only", async () => {
  const files = readdirSync(dist, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  expect(files.length).toBeLessThanOrEqual(BUDGET_FILES);
  const pages = (kind: RegExp): string[] =>
    files
      .filter((e) => e.name === "index.html")
      .map((e) => e.parentPath.slice(dist.length + 1))
      .filter((p) => kind.test(p))
      .map((p) => p.replace(kind, "$1/$2"))
      .sort();
  expect(pages(/^([^/]+)\/feature\/(\d+)$/)).toEqual([...BUDGET_PAGE_LIST].sort());
  // Embed cards exist for the same features only.
  expect(pages(/^([^/]+)\/embed\/feature\/(\d+)$/)).toEqual([...BUDGET_PAGE_LIST].sort());
  expect(readFileSync(join(dist, "_redirects"), "utf8")).toContain(`/${GPT2_FIXTURE_ID}/feature/* /fallback/ 200`);
});

test("a listed feature is a static page, readable without JavaScript", async ({ request }) => {
  const res = await request.get(`${github}/${HOSTILE_ID}/feature/2/`);
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('data-section="examples"');
  expect(html).not.toContain("data-fallback=");
});

for (const [host, url, status] of [
  ["GitHub Pages (404.html)", () => github, 404],
  ["Netlify (_redirects rewrite)", () => netlify, 200],
] as const) {
  test(`${host}: features without a static page render at their own URL from their shard`, async ({ page, request, consoleErrors }) => {
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    // gpt2 feature 3: real token windows, logits and a histogram; hostile 5 and 7: labels made of markup.
    for (const [atlas, id] of [[GPT2_FIXTURE_ID, 3], [HOSTILE_ID, 5], [HOSTILE_ID, 7]] as const) {
      const f = await record(request, atlas, id);
      const res = await page.goto(`${url()}/${atlas}/feature/${id}/`);
      expect(res?.status()).toBe(status);
      await expectFeature(page, f);
      expect(new URL(page.url()).pathname).toBe(`/${atlas}/feature/${id}/`);
      expect(await page.locator("head > title").textContent()).toContain(f.label ?? `Feature #${id}`);
    }
    expect(dialogs).toEqual([]);
    // With 404.html the browser reports the status of the document itself; nothing else may appear.
    expect(consoleErrors.filter((e) => !(status === 404 && /status of 404/.test(e)))).toEqual([]);
  });
}

test("a lean page holds the strongest examples in its HTML and loads the rest from the shard", async ({ page, request, consoleErrors }) => {
  const f = await record(request, GPT2_FIXTURE_ID, 1);
  expect(f.examples.length).toBeGreaterThan(LEAN_EXAMPLES);
  const html = await (await request.get(`${github}/${GPT2_FIXTURE_ID}/feature/1/`)).text();
  expect(html.match(/<li class="window"/g)).toHaveLength(LEAN_EXAMPLES);
  await page.goto(`${github}/${GPT2_FIXTURE_ID}/feature/1/`);
  const windows = page.locator('[data-section="examples"] .window');
  await expect(windows).toHaveCount(LEAN_EXAMPLES);
  await page.getByRole("button", { name: `Show all ${f.examples.length}` }).click();
  await expect(windows).toHaveCount(f.examples.length);
  await expect(page.locator("[data-more-examples]")).toHaveCount(0);
  expect(consoleErrors).toEqual([]);
});

test("an id past the end still gets the 404 explanation, not a fallback page", async ({ page, consoleErrors }) => {
  const res = await page.goto(`${github}/${GPT2_FIXTURE_ID}/feature/99999/`);
  expect(res?.status()).toBe(404);
  await expect(page.locator("[data-not-found-message]")).toContainText("out of range");
  await expect(page.locator("article[data-fallback]")).toHaveCount(0);
  expect(consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
});
