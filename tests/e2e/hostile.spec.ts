/**
 * Hostile text on every surface, and the site under a strict Content-Security-Policy.
 *
 * The `hostile` atlas (data/hostile, from scripts/make-hostile-dictionary.ts) has labels, tokens,
 * logits, region names, a title and a description made of markup, event handlers, `javascript:`
 * URLs, broken markup, template syntax, bidi overrides, zero-width and control characters,
 * 10k-character strings, emoji and lone surrogates. Each must show as the same text the atlas
 * holds (the reader's only changes are the 500-character cap and U+FFFD for what no page can
 * represent), and nothing may run: no dialog, no console error, no element the text describes.
 *
 * Bad URLs (feature ids, region slugs, view parameters) give the 404 page or are ignored.
 */
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import type { APIRequestContext, Page } from "@playwright/test";
import { featureShardSchema, parseManifest, regionLevelFileSchema, type FeatureRecord, type Manifest, type Region } from "../../contract/atlas.ts";
import { cleanLabel } from "../../precompute/read/labels.ts";
import { HOSTILE_DESCRIPTION, HOSTILE_FEATURES, HOSTILE_ID } from "../../scripts/make-hostile-dictionary.ts";
import { serveStatic, type StaticServer } from "../../scripts/serve-static.ts";
import { expect, mapReady, test } from "./fixtures.ts";

const root = resolve(import.meta.dirname, "..", "..");

interface Hooks {
  drawnCount(): number;
  selected(): number | null;
  screenPosition(id: number): { x: number; y: number } | null;
  viewState(): { x: number; y: number; zoom: number; width: number; height: number };
  visibleRegionLabels?(): { slug: string; name: string; x: number; y: number; width: number; height: number }[];
}
type Hook = "drawnCount" | "selected" | "viewState" | "visibleRegionLabels";
/** Call one of the map's test hooks (`window.__atlas`, see src/client/map.ts). */
const hook = <K extends Hook>(page: Page, name: K): Promise<ReturnType<NonNullable<Hooks[K]>>> =>
  page.evaluate((n) => {
    const api = (window as unknown as { __atlas: Record<string, (() => unknown) | undefined> }).__atlas;
    return api[n]?.() ?? null;
  }, name) as Promise<ReturnType<NonNullable<Hooks[K]>>>;

interface Hostile {
  manifest: Manifest;
  features: FeatureRecord[];
  regions: Region[];
}

async function loadHostile(request: APIRequestContext): Promise<Hostile> {
  const res = await request.get(`/${HOSTILE_ID}/data/manifest.json`);
  expect(res.ok()).toBe(true);
  const manifest = parseManifest(await res.json());
  const features: FeatureRecord[] = [];
  for (const s of manifest.shards) features.push(...featureShardSchema.parse(await (await request.get(`/${HOSTILE_ID}/data/${s.path}`)).json()).features);
  const regions: Region[] = [];
  for (const l of manifest.regions?.levels ?? []) regions.push(...regionLevelFileSchema.parse(await (await request.get(`/${HOSTILE_ID}/data/${l.path}`)).json()).regions);
  return { manifest, features, regions };
}

/** Fails the test on any dialog (alert, confirm, prompt): the sign that some text ran as script. */
function guardDialogs(page: Page): string[] {
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  return dialogs;
}

/** Elements the hostile strings describe must not exist; the only inline script is the theme snippet. */
async function expectNothingInjected(page: Page): Promise<void> {
  const found = await page.evaluate(() => ({
    handlers: [...document.querySelectorAll("*")].flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${el.tagName} ${a.name}`)),
    images: document.querySelectorAll('img[src="x"]').length,
    jsLinks: [...document.querySelectorAll("a[href]")].filter((a) => /^\s*javascript:/i.test(a.getAttribute("href")!)).length,
    inlineScripts: [...document.querySelectorAll("script:not([src])")].filter((s) => !(s.textContent ?? "").includes('localStorage.getItem("theme")')).length,
    headings: document.querySelectorAll("h1").length,
    styles: document.querySelectorAll("style").length,
  }));
  // At most the page's own heading (the map page has none): `</title><h1>` must not add one.
  expect(found).toEqual({ handlers: [], images: 0, jsLinks: 0, inlineScripts: 0, headings: Math.min(found.headings, 1), styles: found.styles });
  // A hostile <style> would be an extra element in <body>.
  expect(await page.evaluate(() => document.querySelectorAll("body style").length)).toBe(0);
}

const meta = (page: Page, selector: string): Promise<string | null> => page.locator(selector).first().getAttribute("content");

test.describe("hostile text", () => {
  let hostile: Hostile;
  test.beforeAll(async ({ request }) => {
    hostile = await loadHostile(request);
  });

  test("the atlas holds the labels as the reader cleaned them, and the home page lists its title verbatim", async ({ page, consoleErrors }) => {
    const dialogs = guardDialogs(page);
    const raw = JSON.parse(readFileSync(join(root, "data", "hostile", "labels.json"), "utf8")) as Record<string, string>;
    expect(hostile.features).toHaveLength(HOSTILE_FEATURES);
    for (const f of hostile.features) expect(f.label, `feature ${f.id}`).toBe(raw[f.id] === undefined ? null : cleanLabel(raw[f.id]!)!.text);
    // The four 10k-character labels are capped by code points, with an ellipsis.
    const capped = hostile.features.filter((f) => f.label?.endsWith("…"));
    expect(capped).toHaveLength(4);
    for (const f of capped) expect(Array.from(f.label!).length).toBeLessThanOrEqual(500);
    expect(hostile.manifest.title).toContain(`<script>alert("model")</script>`);
    expect(hostile.manifest.description).toBe(HOSTILE_DESCRIPTION);

    await page.goto("/");
    const texts = await page.locator("a").allTextContents();
    expect(texts.some((t) => t.includes(hostile.manifest.title))).toBe(true);
    await expect(page.locator("body")).toContainText(HOSTILE_DESCRIPTION);
    await expectNothingInjected(page);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  for (const [from, to] of [[0, 16], [16, 32], [32, 48], [48, 64]] as const) {
    test(`feature pages ${from}–${to - 1}: heading, title, meta tags, neighbours, examples and logits verbatim`, async ({ page, consoleErrors }) => {
      const dialogs = guardDialogs(page);
      for (const f of hostile.features.slice(from, to)) {
        await page.goto(`/${HOSTILE_ID}/feature/${f.id}/`);
        const name = f.label ?? `Feature #${f.id}`;
        expect(await page.locator("h1").textContent(), `feature ${f.id}`).toBe(name);
        const title = f.label ? `${f.label} — feature ${f.id} · ${hostile.manifest.title}` : `Feature #${f.id} · ${hostile.manifest.title}`;
        // The <title> element, not document.title, which collapses whitespace by definition.
        expect(await page.locator("head > title").textContent()).toBe(title);
        const ogTitle = f.label ? `${f.label} — feature ${f.id}` : `Feature #${f.id}`;
        expect(await meta(page, 'meta[property="og:title"]')).toBe(ogTitle);
        expect(await meta(page, 'meta[name="twitter:title"]')).toBe(ogTitle);
        expect(await meta(page, 'meta[property="og:site_name"]')).toBe(`${hostile.manifest.title} · Feature Atlas`);
        // The description is cut at 200 characters; what is there is the start of the full text.
        const description = (await meta(page, 'meta[name="description"]'))!.replace(/…$/, "");
        const opening = `Feature ${f.id} of ${hostile.manifest.title}${f.label ? `, labelled “${f.label}”` : ""}`;
        expect(opening.startsWith(description) || description.startsWith(opening), `description of ${f.id}: ${description}`).toBe(true);
        expect(await meta(page, 'meta[property="og:description"]')).toBe(await meta(page, 'meta[name="description"]'));

        const neighbours = await page.locator('[data-section="neighbours"] a').allTextContents();
        for (const n of f.neighbours) {
          expect(neighbours.some((t) => t.includes(n.label ?? `#${n.id}`)), `neighbour ${n.id} of ${f.id}`).toBe(true);
        }
        // Tokens are drawn with whitespace made visible, so compare those without whitespace.
        const plain = (t: string) => t !== "" && !/\s/.test(t);
        if (f.examples.length > 0) {
          const text = (await page.locator('[data-section="examples"]').textContent()) ?? "";
          for (const t of f.examples.flatMap((e) => e.tokens).filter(plain)) expect(text, `token ${JSON.stringify(t)} of ${f.id}`).toContain(t);
        }
        if (f.logits) {
          const text = (await page.locator('[data-section="logits"]').textContent()) ?? "";
          for (const l of [...f.logits.positive, ...f.logits.negative].filter((l) => plain(l.token))) expect(text).toContain(l.token);
        }
        await expectNothingInjected(page);
      }
      expect(dialogs).toEqual([]);
      expect(consoleErrors).toEqual([]);
    });
  }

  test("map tooltips show hostile labels and region names verbatim", async ({ page, consoleErrors }) => {
    const dialogs = guardDialogs(page);
    const tooltip = page.getByRole("tooltip");
    const ids = hostile.features.map((f) => f.id);
    let hovered = 0;
    // The planted clusters are tight: zoom into each region in turn so its points come apart.
    for (const region of hostile.regions.filter((r) => r.level === 0)) {
      await page.goto(`/${HOSTILE_ID}/?x=${region.centroid[0]}&y=${region.centroid[1]}&z=6`);
      await mapReady(page);
      await expect.poll(() => hook(page, "drawnCount")).toBeGreaterThanOrEqual(HOSTILE_FEATURES);
      const view = await hook(page, "viewState");
      const positions = await page.evaluate((list) => list.map((id) => (window as unknown as { __atlas: Hooks }).__atlas.screenPosition(id)), ids);
      const boxes = (await hook(page, "visibleRegionLabels")) ?? [];
      // Points alone on screen (10 px from every other) and clear of region names, which win the hover.
      const clear = ids.filter((_id, i) => {
        const a = positions[i];
        if (!a || a.x < 30 || a.y < 80 || a.x > view.width - 30 || a.y > view.height - 30) return false;
        if (boxes.some((b) => a.x >= b.x - 8 && a.x <= b.x + b.width + 8 && a.y >= b.y - 8 && a.y <= b.y + b.height + 8)) return false;
        return positions.every((b, j) => j === i || !b || Math.hypot(a.x - b.x, a.y - b.y) >= 10);
      });
      for (const id of clear.filter((id) => hostile.features[id]!.label !== null).slice(0, 4)) {
        const pos = positions[id]!;
        await page.mouse.move(pos.x, pos.y);
        // textContent, not toHaveText: that one normalises whitespace, which would hide a mangled label.
        await expect.poll(() => tooltip.locator("strong").textContent()).toBe(hostile.features[id]!.label);
        await page.mouse.move(5, view.height - 5);
        hovered++;
      }
      // Region names on the map are the atlas's names, hostile ones included, as text.
      const names = new Set(hostile.regions.map((r) => r.name));
      for (const b of boxes) expect(names.has(b.name), b.name).toBe(true);
      const own = boxes.find((b) => b.slug === region.slug);
      if (own) {
        await page.mouse.move(own.x + own.width / 2, own.y + own.height / 2);
        await expect.poll(() => tooltip.locator("strong").textContent()).toBe(region.name);
        await page.mouse.move(5, view.height - 5);
      }
      await expectNothingInjected(page);
    }
    expect(hovered, "labelled points hovered").toBeGreaterThanOrEqual(8);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  test("search results show hostile labels verbatim and run nothing", async ({ page, consoleErrors }) => {
    const dialogs = guardDialogs(page);
    await page.goto(`/${HOSTILE_ID}/`);
    await mapReady(page);
    const box = page.getByRole("combobox", { name: /search/i });
    const labels = new Set(hostile.features.flatMap((f) => (f.label ? [f.label] : [])));
    const names = new Set(hostile.regions.map((r) => r.name));
    for (const query of ["onerror", "alert", "<script>alert(1)</script>", "javascript:", "👩‍👩‍👧‍👦", "{{", "constructor", "__proto__"]) {
      await box.fill(query);
      const results = page.locator("[role=option] .result-label");
      if (["onerror", "alert"].includes(query)) await expect(results.first()).toBeVisible();
      for (const text of await results.allTextContents()) expect(labels.has(text) || names.has(text), `${query}: ${JSON.stringify(text)}`).toBe(true);
    }
    // A hostile label found by one of its own words, then opened.
    const target = hostile.features[0]!;
    await box.fill("onerror");
    const option = page.locator("[role=option]", { has: page.locator(".result-label", { hasText: target.label! }) }).first();
    await expect(option).toBeVisible();
    await expectNothingInjected(page);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  test("region pages name hostile regions verbatim", async ({ page, consoleErrors }) => {
    const dialogs = guardDialogs(page);
    expect(hostile.regions.map((r) => r.name)).toEqual(expect.arrayContaining([`<img src=x onerror=alert("region")>`, `</title><script>alert("region")</script>`]));
    for (const r of hostile.regions) {
      await page.goto(`/${HOSTILE_ID}/region/${r.slug}/`);
      expect(await page.locator("h1").textContent()).toBe(r.name);
      expect(await page.title()).toContain(r.name);
      expect(await meta(page, 'meta[property="og:title"]')).toContain(r.name);
      await expectNothingInjected(page);
    }
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});

test.describe("bad URLs", () => {
  for (const path of [
    "/demo/feature/abc/",
    "/demo/feature/-1/",
    "/demo/feature/4096/",
    "/demo/feature/99999999999999999999/",
    "/demo/feature/1.5/",
    `/demo/region/${encodeURIComponent("<script>alert(1)</script>")}/`,
    `/${encodeURIComponent('"><img src=x onerror=alert(1)>')}/feature/1/`,
    `/demo/feature/${encodeURIComponent("<svg onload=alert(1)>")}/`,
  ]) {
    test(`${decodeURIComponent(path)} is the 404 page, showing the path as text`, async ({ page, consoleErrors }) => {
      const dialogs = guardDialogs(page);
      const res = await page.goto(path);
      expect(res?.status()).toBe(404);
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
      // The page says what was asked for, as text.
      await expect(page.locator("[data-not-found-message] code")).toHaveText(decodeURIComponent(path));
      await expectNothingInjected(page);
      expect(dialogs).toEqual([]);
      // The browser reports the 404 response itself as a console error; nothing else may appear.
      expect(consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
    });
  }

  test("nonsense view parameters are ignored and the map works", async ({ page, consoleErrors }) => {
    const dialogs = guardDialogs(page);
    const query = new URLSearchParams({ x: "1e309", y: "-Infinity", z: "<script>alert(1)</script>", f: '"><img src=x onerror=alert(1)>', r: "javascript:alert(1)" });
    await page.goto(`/demo/?${query}`);
    await mapReady(page);
    expect(await hook(page, "drawnCount")).toBeGreaterThan(0);
    expect(await hook(page, "selected")).toBeNull();
    const v = await hook(page, "viewState");
    expect(Number.isFinite(v.x) && Number.isFinite(v.y) && Number.isFinite(v.zoom)).toBe(true);
    await page.goto(`/demo/?f=99999999&x=0.5`);
    await mapReady(page);
    expect(await hook(page, "selected")).toBeNull();
    await expectNothingInjected(page);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});

/** The policy from docs/csp.md, the one the site documents. */
function documentedPolicy(): string {
  const doc = readFileSync(join(root, "docs", "csp.md"), "utf8");
  const block = /<!-- csp:begin -->\s*```text\s*Content-Security-Policy: ([^\n]+)\s*```\s*<!-- csp:end -->/.exec(doc);
  if (!block) throw new Error("docs/csp.md has no policy block between <!-- csp:begin --> and <!-- csp:end -->");
  return block[1]!.trim();
}

test.describe("under the documented Content-Security-Policy", () => {
  let server: StaticServer;
  const policy = documentedPolicy();
  test.beforeAll(async () => {
    const work = process.env.E2E_WORK_DIR;
    if (!work) throw new Error("E2E_WORK_DIR is not set: run through the e2e global setup");
    server = await serveStatic(join(work, "dist"), 0, "127.0.0.1", { headers: { "Content-Security-Policy": policy } });
  });
  test.afterAll(async () => {
    await server?.close();
  });

  /** Violations as the page reports them (securitypolicyviolation events) and as console errors. */
  async function watch(page: Page): Promise<() => Promise<string[]>> {
    await page.addInitScript(() => {
      const w = window as unknown as { __csp: string[] };
      w.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(`${e.effectiveDirective}: ${e.blockedURI} ${e.sample}`));
    });
    const console: string[] = [];
    page.on("console", (m) => {
      if (/Content.Security.Policy|Trusted Type/i.test(m.text())) console.push(m.text());
    });
    return async () => [...console, ...((await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? [])) as string[])];
  }

  /** Every inline script on the page is allowed by a hash in the policy (a clearer failure than a violation). */
  async function expectHashesListed(page: Page): Promise<void> {
    const scripts = await page.evaluate(() => [...document.querySelectorAll("script:not([src])")].map((s) => s.textContent ?? ""));
    for (const s of scripts) {
      const hash = `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;
      expect(policy.includes(hash), `an inline script is not allowed by docs/csp.md; add ${hash} (or move the script to a file)`).toBe(true);
    }
  }

  test("the server sends the policy", async ({ request }) => {
    const res = await request.get(`${server.url}/demo/`);
    expect(res.headers()["content-security-policy"]).toBe(policy);
  });

  test("the map draws, hover and search work, with no violation", async ({ page }) => {
    const violations = await watch(page);
    await page.goto(`${server.url}/demo/`);
    await expectHashesListed(page);
    await mapReady(page);
    await expect.poll(() => hook(page, "drawnCount")).toBeGreaterThan(100);
    const view = await hook(page, "viewState");
    await page.mouse.move(view.width / 2, view.height / 2);
    await page.mouse.move(view.width / 2 + 7, view.height / 2 + 3);
    const box = page.getByRole("combobox", { name: /search/i });
    await box.fill("ocean");
    await expect(page.getByRole("listbox").getByRole("option").first()).toBeVisible();
    await box.press("ArrowDown");
    await box.press("Enter");
    await expect.poll(() => hook(page, "selected")).not.toBeNull();
    // The theme toggle and the dark theme's first paint.
    await page.getByRole("button", { name: /theme/i }).first().click();
    await page.reload();
    await mapReady(page);
    expect(await violations()).toEqual([]);
  });

  test("feature, region, hostile, embed, home and 404 pages run with no violation", async ({ page, request }) => {
    const violations = await watch(page);
    const manifest = parseManifest(await (await request.get(`${server.url}/demo/data/manifest.json`)).json());
    const regionSlug = manifest.regions ? regionLevelFileSchema.parse(await (await request.get(`${server.url}/demo/data/${manifest.regions.levels[0]!.path}`)).json()).regions[0]!.slug : null;
    const paths = ["/", "/demo/feature/7/", "/demo/embed/feature/7/", `/${HOSTILE_ID}/`, `/${HOSTILE_ID}/feature/0/`, `/${HOSTILE_ID}/feature/20/`, "/demo/feature/abc/"];
    if (regionSlug) paths.push(`/demo/region/${regionSlug}/`);
    for (const path of paths) {
      await page.goto(`${server.url}${path}`);
      await expectHashesListed(page);
      if (path === `/${HOSTILE_ID}/`) await mapReady(page);
      if (path === "/demo/feature/7/") {
        // The share buttons' script is a file now; it must still work.
        const copy = page.getByRole("button", { name: /copy/i }).first();
        if (await copy.count()) await copy.click();
      }
      expect(await violations(), path).toEqual([]);
    }
  });
});
