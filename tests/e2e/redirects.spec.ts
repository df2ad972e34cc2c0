/**
 * Old region addresses: the gpt2 atlas is built twice by global-setup, the second time with one
 * continent renamed by hand to a new slug, so its old slug has a redirect page. Opening the old
 * URL lands on the region's page, with JavaScript on and off. The old and new slugs are read from
 * the atlas's redirects file; only the hand-written name and slug are known beforehand.
 */
import type { APIRequestContext } from "@playwright/test";
import { parseManifest, regionLevelFileSchema, regionRedirectsFileSchema, type RegionRedirect } from "../../contract/atlas.ts";
import { GPT2_FIXTURE_ID, GPT2_RENAMED_REGION } from "../../scripts/gpt2-fixture-atlas.ts";
import { escapeRegExp, expect, test } from "./fixtures.ts";

const GPT2 = GPT2_FIXTURE_ID;

async function atlasRedirects(request: APIRequestContext): Promise<{ redirects: RegionRedirect[]; live: Set<string> }> {
  const manifest = parseManifest(await (await request.get(`/${GPT2}/data/manifest.json`)).json());
  const info = manifest.regions!;
  expect(info.redirects, "the second build wrote a redirects file").toBeDefined();
  const redirects = regionRedirectsFileSchema.parse(await (await request.get(`/${GPT2}/data/${info.redirects}`)).json()).redirects;
  const live = new Set<string>();
  for (const l of info.levels) for (const r of regionLevelFileSchema.parse(await (await request.get(`/${GPT2}/data/${l.path}`)).json()).regions) live.add(r.slug);
  return { redirects, live };
}

async function renamedRedirect(request: APIRequestContext): Promise<RegionRedirect> {
  const { redirects } = await atlasRedirects(request);
  const r = redirects.find((x) => x.to === GPT2_RENAMED_REGION.slug);
  expect(r, "the renamed continent's old slug redirects to its new one").toBeDefined();
  return r!;
}

test("an old region URL lands on the renamed region's page", async ({ page, request, consoleErrors }) => {
  const { from, to } = await renamedRedirect(request);
  await page.goto(`/${GPT2}/region/${from}/`);
  await page.waitForURL(new RegExp(`/${GPT2}/region/${escapeRegExp(to)}/$`));
  await expect(page.locator("h1")).toHaveText(GPT2_RENAMED_REGION.name);
  expect(consoleErrors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("the old URL still lands on the region's page", async ({ page, request }) => {
    const { from, to } = await renamedRedirect(request);
    await page.goto(`/${GPT2}/region/${from}/`);
    await page.waitForURL(new RegExp(`/${GPT2}/region/${escapeRegExp(to)}/$`));
    await expect(page.locator("h1")).toHaveText(GPT2_RENAMED_REGION.name);
  });
});

test("redirect pages name the new page as canonical, stay out of indexes and never replace a live region", async ({ request }) => {
  const { redirects, live } = await atlasRedirects(request);
  expect(redirects.length).toBeGreaterThan(0);
  for (const { from, to } of redirects) {
    expect(live.has(from)).toBe(false);
    const html = await (await request.get(`/${GPT2}/region/${from}/`)).text();
    expect(html).toMatch(new RegExp(`<meta http-equiv="refresh" content="0; url=/${GPT2}/region/${escapeRegExp(to)}/"`));
    expect(html).toMatch(new RegExp(`<link rel="canonical" href="[^"]*/${GPT2}/region/${escapeRegExp(to)}/"`));
    expect(html).toContain(`<meta name="robots" content="noindex">`);
    expect(html).toMatch(new RegExp(`<a href="/${GPT2}/region/${escapeRegExp(to)}/">`));
  }
  // The page at the new slug is the region itself, not a redirect.
  const target = await (await request.get(`/${GPT2}/region/${GPT2_RENAMED_REGION.slug}/`)).text();
  expect(target).not.toContain(`http-equiv="refresh"`);
  expect(target).toContain(GPT2_RENAMED_REGION.name);
});
