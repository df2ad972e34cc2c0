/**
 * The map's side panel (a bottom sheet on phones): the selected feature's label, density, top
 * examples and neighbours. Everything in a record is untrusted text, so the DOM is built with
 * createElement + textContent only — never innerHTML.
 */
import type { Example, FeatureRecord } from "../../contract/atlas.ts";
import {
  describeDensity,
  displayToken,
  featureName,
  formatActivation,
  formatCosine,
  intensity,
  isWordList,
  maxActivation,
} from "../lib/format.ts";

export interface PanelContext {
  featureHref(id: number): string;
  onNeighbour(id: number): void;
}

const WORDS_SHOWN = 12;
const WINDOWS_SHOWN = 5;
/** Tokens kept on each side of a window's peak: the panel is narrow. */
const WINDOW_CONTEXT = 10;
const NEIGHBOURS_SHOWN = 12;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bar(fraction: number, negative = false): HTMLElement {
  const track = el("span", negative ? "bar-track negative" : "bar-track");
  track.setAttribute("aria-hidden", "true");
  const fill = el("span", "bar");
  fill.style.width = `${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`;
  track.append(fill);
  return track;
}

function wordList(examples: Example[]): HTMLElement {
  const max = maxActivation(examples);
  const list = el("ol", "word-bars");
  for (const e of examples.slice(0, WORDS_SHOWN)) {
    const li = el("li");
    li.append(el("span", "word", displayToken(e.tokens[0] ?? "")), bar(intensity(e.maxValue, max)), el("span", "value", formatActivation(e.maxValue)));
    list.append(li);
  }
  return list;
}

function windows(examples: Example[]): HTMLElement {
  const max = maxActivation(examples);
  const list = el("ol", "windows");
  for (const e of examples.slice(0, WINDOWS_SHOWN)) {
    const li = el("li", "window");
    const from = Math.max(0, e.maxIndex - WINDOW_CONTEXT);
    const to = Math.min(e.tokens.length, e.maxIndex + WINDOW_CONTEXT + 1);
    if (from > 0) li.append("… ");
    for (let i = from; i < to; i++) {
      const value = e.values[i] ?? 0;
      const a = intensity(value, max);
      const text = displayToken(e.tokens[i] ?? "");
      if (a > 0) {
        const mark = el("mark", a >= 0.6 ? "strong" : undefined, text);
        if (i === e.maxIndex) mark.classList.add("peak");
        mark.style.setProperty("--a", a.toFixed(2));
        mark.title = formatActivation(value);
        li.append(mark);
      } else {
        li.append(text);
      }
    }
    if (to < e.tokens.length) li.append(" …");
    li.append(el("span", "window-max", formatActivation(e.maxValue)));
    list.append(li);
  }
  return list;
}

function neighbours(f: FeatureRecord, ctx: PanelContext): HTMLElement {
  const list = el("ol", "panel-neighbours");
  const shown = f.neighbours.slice(0, NEIGHBOURS_SHOWN);
  const maxCos = Math.max(1e-9, ...shown.map((n) => Math.abs(n.cosine)));
  for (const n of shown) {
    const li = el("li");
    const button = el("button", "neighbour");
    button.type = "button";
    button.dataset["id"] = String(n.id);
    button.title = "Select on the map";
    button.append(el("span", "n-label", featureName(n.id, n.label)), el("span", "n-id", `#${n.id}`));
    button.addEventListener("click", () => ctx.onNeighbour(n.id));
    const value = el("span", "value", formatCosine(n.cosine));
    value.title = "cosine similarity";
    li.append(button, bar(Math.abs(n.cosine) / maxCos, n.cosine < 0), value);
    list.append(li);
  }
  return list;
}

export function renderFeature(body: HTMLElement, f: FeatureRecord, ctx: PanelContext): void {
  const parts: HTMLElement[] = [];
  const eyebrow = el("p", "eyebrow", `Feature #${f.id}`);
  if (f.dead) eyebrow.append(el("span", "badge", "dead"));
  const title = el("h2", f.label ? "panel-title" : "panel-title unlabelled", featureName(f.id, f.label));
  title.id = "panel-title";
  const density = describeDensity(f.density);
  parts.push(eyebrow, title, el("p", "panel-density", density.charAt(0).toUpperCase() + density.slice(1)));

  const actions = el("p", "panel-actions");
  const link = el("a", "button primary", "Open feature page");
  link.href = ctx.featureHref(f.id);
  actions.append(link);
  parts.push(actions);

  if (f.examples.length > 0) {
    parts.push(el("h3", undefined, "Top activations"), isWordList(f.examples) ? wordList(f.examples) : windows(f.examples));
  }
  if (f.neighbours.length > 0) {
    parts.push(el("h3", undefined, "Nearest features"), neighbours(f, ctx));
  }
  body.replaceChildren(...parts);
}

export function renderMessage(body: HTMLElement, id: number, message: string): void {
  const title = el("h2", "panel-title unlabelled", `Feature #${id}`);
  title.id = "panel-title";
  body.replaceChildren(title, el("p", "muted", message));
}
