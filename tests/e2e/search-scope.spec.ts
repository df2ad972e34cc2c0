/**
 * Search across atlases: the scope select ("Atlases to look in") picks one atlas or all of them;
 * the home page starts with all, an atlas's pages with their own. With all, results come from
 * every atlas and name theirs, and choosing one goes to that atlas's page.
 */
import type { APIRequestContext } from "@playwright/test";
import { parseManifest, type Manifest } from "../../contract/atlas.ts";
import { GPT2_FIXTURE_ID } from "../../scripts/gpt2-fixture-atlas.ts";
import { ATLAS, escapeRegExp, expect, test } from "./fixtures.ts";

const GPT2 = GPT2_FIXTURE_ID;

async function manifestOf(request: APIRequestContext, id: string): Promise<Manifest> {
  return parseManifest(await (await request.get(`/${id}/data/manifest.json`)).json());
}

test("the home page searches every atlas; an id finds that feature in each, named by its atlas", async ({ page, request, consoleErrors }) => {
  const manifests = await Promise.all([ATLAS, GPT2].map((id) => manifestOf(request, id)));
  await page.goto("/");
  const scope = page.getByLabel("Atlases to look in");
  await expect(scope).toHaveValue("*");
  await expect(scope.locator("option:checked")).toHaveText("All atlases");
  const box = page.getByRole("combobox", { name: /search/i });
  await box.fill("#3");
  for (const m of manifests) {
    const option = page.locator(`[role=option][data-atlas="${m.id}"][data-id="3"]`);
    await expect(option).toBeVisible();
    await expect(option.locator(".result-id")).toHaveText(`${m.title} · #3`);
  }
  // Keyboard: down to the gpt2 atlas's result and open it.
  const options = page.locator("[role=option][data-index]");
  const atlases = await options.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset["atlas"]));
  const at = atlases.indexOf(GPT2);
  expect(at).toBeGreaterThanOrEqual(0);
  for (let i = 0; i <= at; i++) await box.press("ArrowDown");
  await box.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/${GPT2}/feature/3/$`));
  expect(consoleErrors).toEqual([]);
});

test("on an atlas's page the scope starts there; switching to all atlases by keyboard finds another atlas's features", async ({ page, request, atlas, consoleErrors }) => {
  // The gpt2 fixture atlas has no labels: from its pages, a demo label is found only with all atlases.
  const target = await atlas.feature(11);
  expect(target.label).toBeTruthy();
  const demo = await manifestOf(request, ATLAS);
  await page.goto(`/${GPT2}/feature/0/`);
  const scope = page.getByLabel("Atlases to look in");
  await expect(scope).toHaveValue(GPT2);
  const box = page.getByRole("combobox", { name: /search/i });
  await box.fill(target.label!);
  await expect(page.locator("[data-search-status]")).not.toBeEmpty();
  await expect(page.locator(`[role=option][data-atlas="${ATLAS}"]`)).toHaveCount(0);

  // The select is a native control: focus it and step to "All atlases" with the keyboard.
  await scope.focus();
  await page.keyboard.press("ArrowDown");
  await expect(scope).toHaveValue("*");
  await box.focus();
  const option = page.locator(`[role=option][data-atlas="${ATLAS}"][data-id="${target.id}"]`);
  await expect(option).toBeVisible();
  await expect(option.locator(".result-label")).toHaveText(target.label!);
  await expect(option).toHaveAttribute("aria-label", new RegExp(`in ${escapeRegExp(demo.title)}$`));
  await option.click();
  await expect(page).toHaveURL(new RegExp(`/${ATLAS}/feature/${target.id}/$`));
  expect(consoleErrors).toEqual([]);
});
