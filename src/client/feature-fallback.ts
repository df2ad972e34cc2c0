/**
 * The fallback feature page: on a site built with a page budget (PAGES=budget), features without
 * a static page are still served at their own URL, `/<atlas>/feature/<id>/`, by 404.html (or by a
 * 200 rewrite to /fallback/, see docs/hosting.md), which renders the feature here from its shard.
 *
 * It draws the static page's layout with the same classes and stylesheets: heading, density,
 * actions, top activations, output effect and nearest features. Left out, because they are drawn
 * at build time from data the browser does not have at hand: the neighbourhood mini-map, the
 * histogram, the region breadcrumb, the citation and the embed snippet (a link to the shard
 * stands in for the data). Records are untrusted text: createElement + textContent only.
 */
import type { Example, FeatureRecord, Manifest } from "../../contract/atlas.ts";
import { describeDensity, featureName, formatActivation, formatCosine, intensity, isWordList, maxActivation } from "../lib/format.ts";
import { groupExamples, tokenParts, tokenText, trimWindow } from "../lib/feature-view.ts";
import { dataUrl, loadFeature, loadManifest } from "./atlas-data.ts";
import { shardFor } from "../../contract/lookup.ts";

/** `/<base><atlas>/feature/<id>/` (the trailing slash optional) → atlas and id; null for any other path. */
export function featurePath(pathname: string, base: string): { atlas: string; id: number } | null {
  const prefix = base.endsWith("/") ? base : `${base}/`;
  if (!pathname.startsWith(prefix)) return null;
  const m = /^([a-z0-9]+(?:-[a-z0-9]+)*)\/feature\/(0|[1-9]\d{0,9})\/?$/.exec(pathname.slice(prefix.length));
  if (!m) return null;
  const id = Number(m[2]);
  return Number.isSafeInteger(id) ? { atlas: m[1]!, id } : null;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function link(href: string, text: string, className?: string): HTMLAnchorElement {
  const a = el("a", className, text);
  a.href = href;
  return a;
}

function tokenNodes(token: string, lone = false): (Node | string)[] {
  return tokenParts(token, lone).map((p) => (p.ws ? el("span", "ws", p.text) : p.text));
}

function bar(fraction: number): HTMLElement {
  const track = el("span", "bar-track");
  track.setAttribute("aria-hidden", "true");
  const fill = el("span", "bar");
  fill.style.width = `${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`;
  track.append(fill);
  return track;
}

function section(id: string, name: string, title: string): [HTMLElement, HTMLElement] {
  const s = el("section");
  s.setAttribute("aria-labelledby", id);
  s.dataset["section"] = name;
  const h = el("h2", undefined, title);
  h.id = id;
  h.tabIndex = -1;
  s.append(h);
  return [s, h];
}

/** A feature's top activations as the static page draws them (components/Examples.astro). */
export function examplesNodes(examples: Example[]): HTMLElement[] {
  const max = maxActivation(examples);
  if (isWordList(examples)) {
    const list = el("ol", "word-bars");
    for (const e of examples) {
      const li = el("li");
      const word = el("span", "word");
      word.append(...tokenNodes(e.tokens[0] ?? "", true));
      li.append(word, bar(intensity(e.maxValue, max)), el("span", "value", formatActivation(e.maxValue)));
      list.append(li);
    }
    return [list];
  }
  const out: HTMLElement[] = [];
  const groups = groupExamples(examples);
  const titled = groups.length > 1 || groups.some((g) => g.bin !== null);
  for (const g of groups) {
    if (titled) out.push(el("h3", "bin-title", g.title ?? "Strongest activations"));
    const list = el("ol", "windows");
    for (const e of g.examples) {
      const w = trimWindow(e);
      const li = el("li", "window");
      li.tabIndex = 0;
      if (w.cutBefore) li.append(el("span", "cut", "…"));
      for (let i = w.start; i < w.end; i++) {
        const v = e.values[i] ?? 0;
        const a = intensity(v, max);
        const parts = tokenNodes(e.tokens[i] ?? "");
        if (a > 0) {
          const mark = el("mark", a >= 0.6 ? "strong" : undefined);
          if (i === e.maxIndex) mark.classList.add("peak");
          mark.style.setProperty("--a", a.toFixed(2));
          mark.dataset["v"] = formatActivation(v);
          mark.append(...parts);
          li.append(mark);
        } else li.append(...parts);
      }
      if (w.cutAfter) li.append(el("span", "cut", "…"));
      const peak = el("span", "window-max", formatActivation(e.maxValue));
      peak.setAttribute("aria-hidden", "true");
      li.append(peak, el("span", "visually-hidden", ` (peak activation ${formatActivation(e.maxValue)} on “${tokenText(e.tokens[e.maxIndex] ?? "")}”)`));
      list.append(li);
    }
    out.push(list);
  }
  return out;
}

export interface FallbackContext {
  base: string;
  manifest: Pick<Manifest, "id" | "title" | "counts" | "dictionary">;
  /** URL of the feature's shard, offered as its data. */
  shardHref: string | null;
}

/** The feature page's article, built in the browser. */
export function renderFeatureArticle(f: FeatureRecord, ctx: FallbackContext): HTMLElement {
  const { manifest } = ctx;
  const atlasHref = `${ctx.base}${manifest.id}/`;
  const featureHref = (n: number): string => `${atlasHref}feature/${n}/`;
  const article = el("article", "page feature");
  article.dataset["fallback"] = "";

  const crumbs = el("nav", "crumbs");
  crumbs.setAttribute("aria-label", "Breadcrumb");
  const sep = el("span", undefined, "›");
  sep.setAttribute("aria-hidden", "true");
  const here = el("span", undefined, `Feature #${f.id}`);
  here.setAttribute("aria-current", "page");
  crumbs.append(link(atlasHref, manifest.title), sep, here);

  const top = el("div", "feature-top");
  const head = el("header", "feature-head");
  const eyebrow = el("p", "eyebrow", `Feature #${f.id}`);
  if (f.dead) eyebrow.append(el("span", "badge", "dead"));
  head.append(eyebrow, el("h1", f.label ? undefined : "unlabelled", featureName(f.id, f.label)));
  if (f.label && f.labelSource) head.append(el("p", "muted small", `Label from ${f.labelSource}`));
  if (f.otherLabels.length > 0) {
    const p = el("p", "other-labels");
    p.append(el("span", "muted", "Also described as:"), ...f.otherLabels.map((l) => el("span", "chip", l)));
    head.append(p);
  }
  const density = describeDensity(f.density);
  const densitySentence = density.charAt(0).toUpperCase() + density.slice(1);
  const stats = el("dl", "stats");
  const stat = (term: string, value: string, attr?: string): void => {
    const div = el("div");
    const dd = el("dd", undefined, value);
    if (attr) dd.setAttribute(attr, "");
    div.append(el("dt", undefined, term), dd);
    stats.append(div);
  };
  stat("Density", densitySentence, "data-density");
  stat("Decoder norm", formatActivation(f.decoderNorm));
  if (f.dead) stat("Status", "Dead: its decoder row is zero or not finite, so it has no neighbours.");
  head.append(stats);
  const actions = el("p", "actions");
  const onMap = link(`${atlasHref}?f=${f.id}`, "Show on map", "button primary");
  onMap.dataset["showOnMap"] = "";
  actions.append(onMap);
  if (f.id > 0) actions.append(link(featureHref(f.id - 1), `← #${f.id - 1}`, "button"));
  if (f.id + 1 < manifest.counts.features) actions.append(link(featureHref(f.id + 1), `#${f.id + 1} →`, "button"));
  head.append(actions);
  top.append(head);

  const [examples] = section("examples-title", "examples", "Top activations");
  if (f.examples.length > 0) examples.append(...examplesNodes(f.examples));
  else examples.append(el("p", "muted", "No examples were recorded for this feature."));

  const parts: HTMLElement[] = [crumbs, top, examples];
  if (f.logits && (f.logits.positive.length > 0 || f.logits.negative.length > 0)) {
    const [logits] = section("logits-title", "logits", "Effect on the output");
    const max = Math.max(1e-9, ...[...f.logits.positive, ...f.logits.negative].map((l) => Math.abs(l.value)));
    const box = el("div", "logits");
    for (const [heading, cls, list] of [
      ["Promotes", "positive", f.logits.positive],
      ["Suppresses", "negative", f.logits.negative],
    ] as const) {
      const div = el("div");
      const ol = el("ol", `logit-list ${cls}`);
      for (const l of list) {
        const li = el("li");
        const token = el("span", "token");
        token.title = JSON.stringify(l.token);
        token.append(...tokenNodes(l.token, true));
        li.append(token, bar(Math.abs(l.value) / max), el("span", "value", formatActivation(l.value)));
        ol.append(li);
      }
      div.append(el("h3", undefined, heading), ol);
      box.append(div);
    }
    logits.append(box);
    parts.push(logits);
  }

  const [neighbours] = section("neighbours-title", "neighbours", "Nearest features");
  if (f.neighbours.length > 0) {
    const maxCos = Math.max(1e-9, ...f.neighbours.map((n) => Math.abs(n.cosine)));
    const ol = el("ol", "neighbours");
    for (const n of f.neighbours) {
      const li = el("li");
      const a = link(featureHref(n.id), "");
      a.append(el("span", "n-label", featureName(n.id, n.label)), el("span", "n-id", `#${n.id}`));
      const value = el("span", "value");
      value.append(el("span", "visually-hidden", "cosine "), formatCosine(n.cosine));
      li.append(a, bar(Math.abs(n.cosine) / maxCos), value);
      ol.append(li);
    }
    neighbours.append(el("p", "muted small", "By cosine similarity of decoder directions."), ol);
  } else neighbours.append(el("p", "muted", "No neighbours recorded."));
  parts.push(neighbours);

  const about = el("p", "about muted small");
  const bits = [
    manifest.dictionary.model ? `Model ${manifest.dictionary.model}.` : "",
    manifest.dictionary.hookName ? `Hook ${manifest.dictionary.hookName}.` : "",
    `Dictionary of ${manifest.dictionary.dSae.toLocaleString("en-US")} features.`,
    "This page was drawn in your browser from the atlas data; the site has static pages for a chosen set of features only.",
  ];
  about.append(bits.filter(Boolean).join(" "));
  if (ctx.shardHref) about.append(" ", link(ctx.shardHref, "Data (JSON shard)"));
  parts.push(about);
  article.append(...parts);
  return article;
}

/**
 * Render feature `id` of `atlas` into `root`, replacing it; the document title follows. Resolves
 * false when the atlas has no such feature or its data cannot be fetched (the caller then shows
 * the 404 text it already has).
 */
export async function mountFallback(root: HTMLElement, atlas: string, id: number, base: string): Promise<boolean> {
  const url = dataUrl(atlas, base);
  let manifest: Manifest;
  let f: FeatureRecord | null;
  try {
    manifest = await loadManifest(url);
    f = await loadFeature(url, manifest, id);
  } catch {
    return false;
  }
  if (!f || f.id !== id) return false;
  const info = shardFor(manifest, id);
  root.replaceChildren(renderFeatureArticle(f, { base, manifest, shardHref: info ? `${url}${info.path}` : null }));
  document.title = f.label ? `${f.label} — feature ${f.id} · ${manifest.title}` : `Feature #${f.id} · ${manifest.title}`;
  return true;
}
