/**
 * The header search box: an ARIA combobox over a listbox of features and named regions.
 *
 * The search index (its directory, then the chunks a query needs) and the region index are loaded
 * on first use, so pages that are only read pay nothing for them. Choosing a result dispatches a cancelable event
 * on window (`atlas:search-select` for a feature, `atlas:region-select` for a region); the map page
 * cancels it and flies there, everywhere else the browser goes to the feature's or region's page.
 * Results are untrusted text and are set with textContent only.
 *
 * Regions and features are ranked on one scale (region names are scored as labels are; see
 * search-scope.ts `rankResults`): a region whose name holds the query's words comes before features
 * that only match a prefix of them, and after features that hold them when its own name only
 * sounds like them. At most REGION_LIMIT regions are listed, besides the features. When regions
 * match, each run of regions or of features in that order is a group of its own ("Regions",
 * "Features", maybe "Regions" again): a listbox of `role="group"` items, each labelled, holding
 * the options, as in the WAI-ARIA grouped-listbox pattern. Without region matches the listbox holds
 * the feature options directly. Options are numbered in list order, which keyboard moves follow.
 *
 * Scope: with several atlases on the site, a select ("Atlases to look in") picks one atlas or all of
 * them; pages of an atlas start with their own, other pages with all. Searching all runs every
 * atlas's index side by side and merges the lists (search-scope.ts); each result then names its
 * atlas. An atlas whose index fails is left out, with a warning, unless all fail.
 */
import { regionPageUrl } from "../lib/region-index.ts";
import { REGION_SELECT_EVENT, SEARCH_SELECT_EVENT, type RegionSelectDetail, type SearchSelectDetail } from "./events.ts";
import type { RegionHit, RegionSearcher } from "./region-search.ts";
import type { SearchHit as Hit } from "./search-index.ts";
import type { Searcher } from "./search-loader.ts";
import { ALL_ATLASES, atlasesInScope, mergeScoped, mergeScopedRegions, rankResults, type RankedResult, type ScopedHit, type ScopedRegion, type SearchTarget } from "./search-scope.ts";

type Result = RankedResult<RegionHit>;

const LIMIT = 12;
/** Regions shown at most, besides the LIMIT features: a few entry points, ranked among the features. */
const REGION_LIMIT = 3;
const DEBOUNCE_MS = 120;

/**
 * The part of the box's text whose index chunks are worth fetching before the debounce runs the
 * query: the words already finished (a space follows them), or all of it when the text grew by
 * more than a character at once (a paste, autofill). A word still being typed waits for the
 * debounced query: fetching the chunk of every prefix on the way to "hurricane" would cost a fast
 * typist a chunk a keystroke.
 */
export function prefetchText(previous: string, value: string): string {
  if (value.length - previous.length > 1) return value;
  return value.slice(0, value.search(/\S*$/));
}

const searchers = new Map<string, Promise<Searcher>>();
const regionSearchers = new Map<string, Promise<RegionSearcher>>();

function regionSearcherFor(atlasId: string, base: string): Promise<RegionSearcher> {
  let pending = regionSearchers.get(atlasId);
  if (!pending) {
    pending = import("./region-search.ts").then(({ createRegionSearcher }) => createRegionSearcher(atlasId, base));
    pending.catch(() => regionSearchers.delete(atlasId));
    regionSearchers.set(atlasId, pending);
  }
  return pending;
}

/** Region matches, or none when the region index cannot be had: feature search carries on without it. */
async function searchRegions(atlasId: string, base: string, query: string): Promise<RegionHit[]> {
  try {
    return (await regionSearcherFor(atlasId, base)).search(query, REGION_LIMIT);
  } catch (error) {
    console.warn("region search failed:", error);
    return [];
  }
}

function searcherFor(target: SearchTarget, base: string): Promise<Searcher> {
  let pending = searchers.get(target.id);
  if (!pending) {
    pending = import("./search-loader.ts").then(({ createSearcher }) => createSearcher(target, base));
    pending.catch(() => searchers.delete(target.id));
    searchers.set(target.id, pending);
  }
  return pending;
}

/** The region matches of the atlases in scope, by score (equal scores interleave the atlases), at most `limit`. */
async function searchRegionsIn(atlases: readonly SearchTarget[], base: string, query: string, limit: number): Promise<ScopedRegion<RegionHit>[]> {
  const lists = await Promise.all(atlases.map(async (a) => ({ atlas: a.id, hits: await searchRegions(a.id, base, query) })));
  return mergeScopedRegions(lists, limit);
}

function featureHref(base: string, atlasId: string, id: number): string {
  return `${base}${atlasId}/feature/${id}/`;
}

function setup(root: HTMLElement, withShortcut: boolean): void {
  const input = root.querySelector<HTMLInputElement>("input[role=combobox]");
  const list = root.querySelector<HTMLUListElement>("[role=listbox]");
  const live = root.querySelector<HTMLElement>("[data-search-status]");
  const select = root.querySelector<HTMLSelectElement>("[data-search-atlas]");
  if (!input || !list) return;
  const base = root.dataset["base"] ?? "/";
  const targets = JSON.parse(root.dataset["atlases"] ?? "[]") as SearchTarget[];
  const titles = new Map(targets.map((t) => [t.id, t.title]));
  list.setAttribute("aria-label", "Matching regions and features");
  // On a page under an atlas's path (e.g. a 404 at /<atlas>/feature/…/) search that atlas first.
  if (select) {
    const here = window.location.pathname.slice(base.length).split("/")[0];
    if (here && [...select.options].some((o) => o.value === here)) select.value = here;
  }
  const scope = (): string => select?.value ?? root.dataset["scope"] ?? ALL_ATLASES;
  const inScope = (): SearchTarget[] => atlasesInScope(scope(), targets);

  /** Results in display order (rankResults), which is also the options' DOM order. */
  let hits: Result[] = [];
  let active = -1;
  let sequence = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const close = (): void => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const showStatus = (text: string): void => {
    list.replaceChildren();
    const li = document.createElement("li");
    li.className = "result-status";
    li.setAttribute("role", "option");
    li.setAttribute("aria-disabled", "true");
    li.textContent = text;
    list.append(li);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (live) live.textContent = text;
  };

  const setActive = (index: number): void => {
    const options = list.querySelectorAll<HTMLLIElement>("li[role=option][data-index]");
    active = options.length === 0 ? -1 : (index + options.length) % options.length;
    options.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    const current = options[active];
    if (current) {
      input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };

  const choose = (result: Result): void => {
    const atlas = result.atlas;
    close();
    let handled: boolean;
    if (result.kind === "region") {
      const event = new CustomEvent<RegionSelectDetail>(REGION_SELECT_EVENT, { detail: { atlas, slug: result.hit.slug }, cancelable: true });
      handled = !window.dispatchEvent(event);
      if (!handled) window.location.href = regionPageUrl(base, atlas, result.hit.slug);
    } else {
      const event = new CustomEvent<SearchSelectDetail>(SEARCH_SELECT_EVENT, { detail: { atlas, id: result.hit.id }, cancelable: true });
      handled = !window.dispatchEvent(event);
      if (!handled) window.location.href = featureHref(base, atlas, result.hit.id);
    }
    if (handled) input.blur();
  };

  const option = (result: Result, i: number): HTMLLIElement => {
    const li = document.createElement("li");
    li.id = `${list.id}-option-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.dataset["index"] = String(i);
    const label = document.createElement("span");
    label.className = "result-label";
    const meta = document.createElement("span");
    meta.className = "result-id";
    li.dataset["atlas"] = result.atlas;
    // With more than one atlas in scope, each result names its own.
    const atlasTitle = inScope().length > 1 ? (titles.get(result.atlas) ?? result.atlas) : null;
    if (result.kind === "region") {
      li.dataset["region"] = result.hit.slug;
      label.textContent = result.hit.name;
      meta.textContent = `${atlasTitle ? `${atlasTitle} · ` : ""}${result.hit.kind} · ${result.hit.members}`;
      li.setAttribute("aria-label", `${result.hit.name}, ${result.hit.kind} of ${result.hit.members} features${atlasTitle ? `, in ${atlasTitle}` : ""}`);
    } else {
      li.dataset["id"] = String(result.hit.id);
      const text = result.hit.label && result.hit.label.trim() ? result.hit.label : `Feature #${result.hit.id}`;
      label.textContent = text;
      meta.textContent = `${atlasTitle ? `${atlasTitle} · ` : ""}#${result.hit.id}`;
      if (atlasTitle) li.setAttribute("aria-label", `${text}, #${result.hit.id} in ${atlasTitle}`);
    }
    li.append(label, meta);
    // mousedown would blur the input (and close the list) before click lands.
    li.addEventListener("mousedown", (e) => e.preventDefault());
    li.addEventListener("click", () => choose(result));
    return li;
  };

  const group = (name: string, key: string, items: HTMLLIElement[]): HTMLLIElement => {
    const li = document.createElement("li");
    li.className = "result-group";
    li.setAttribute("role", "group");
    const heading = document.createElement("span");
    heading.id = `${list.id}-${key}-label`;
    heading.className = "result-group-label";
    heading.setAttribute("role", "presentation");
    heading.textContent = name;
    li.setAttribute("aria-labelledby", heading.id);
    const inner = document.createElement("ul");
    inner.setAttribute("role", "none");
    inner.append(...items);
    li.append(heading, inner);
    return li;
  };

  const render = (): void => {
    list.replaceChildren();
    if (hits.length === 0) {
      showStatus("No matching features or regions");
      return;
    }
    const items = hits.map((r, i) => option(r, i));
    const regionCount = hits.filter((r) => r.kind === "region").length;
    const featureCount = hits.length - regionCount;
    if (regionCount === 0) list.append(...items);
    else {
      // Groups follow the ranking, so a region ranked between features sits in a group of its own
      // there; options keep their order and indices, so keyboard moves are unchanged.
      let start = 0;
      while (start < hits.length) {
        const kind = hits[start]!.kind;
        let end = start + 1;
        while (end < hits.length && hits[end]!.kind === kind) end++;
        list.append(group(kind === "region" ? "Regions" : "Features", `${kind}s-${start}`, items.slice(start, end)));
        start = end;
      }
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
    if (live) {
      live.textContent =
        regionCount > 0 ? `${count(regionCount, "region")} and ${count(featureCount, "feature")}` : count(hits.length, "result");
    }
    active = -1;
  };

  /** Feature matches over the atlases in scope; one atlas failing among several only warns. */
  const searchFeatures = async (atlases: readonly SearchTarget[], query: string): Promise<ScopedHit[]> => {
    const settled = await Promise.allSettled(atlases.map((a) => searcherFor(a, base).then((s) => s.search(query, LIMIT))));
    const lists: { atlas: string; hits: Hit[] }[] = [];
    settled.forEach((r, i) => {
      if (r.status === "fulfilled") lists.push({ atlas: atlases[i]!.id, hits: r.value });
      else if (atlases.length > 1) console.warn(`search of ${atlases[i]!.id} failed:`, r.reason);
    });
    const failed = settled.find((r) => r.status === "rejected");
    if (lists.length === 0 && failed) throw (failed as PromiseRejectedResult).reason;
    return mergeScoped(lists, LIMIT);
  };

  const run = async (): Promise<void> => {
    const query = input.value.trim();
    const mine = ++sequence;
    if (!query) {
      hits = [];
      close();
      return;
    }
    try {
      const atlases = inScope();
      const [found, regions] = await Promise.all([searchFeatures(atlases, query), searchRegionsIn(atlases, base, query, REGION_LIMIT)]);
      if (mine !== sequence) return;
      hits = rankResults(regions, found, LIMIT);
      render();
    } catch (error) {
      if (mine !== sequence) return;
      console.warn("search failed:", error);
      hits = [];
      showStatus("Search is unavailable right now");
    }
  };

  /** The box's text at the last input event, to tell a paste from a keystroke. */
  let typed = "";
  input.addEventListener("input", () => {
    const ahead = prefetchText(typed, input.value);
    typed = input.value;
    if (ahead.trim()) {
      for (const a of inScope()) {
        searcherFor(a, base)
          .then((s) => s.prefetch(ahead))
          .catch(() => {});
      }
    }
    clearTimeout(timer);
    timer = setTimeout(() => void run(), DEBOUNCE_MS);
  });
  // Start loading the index as soon as the user shows interest.
  input.addEventListener("focus", () => {
    for (const a of inScope()) {
      searcherFor(a, base)
        .then((s) => s.ready())
        .catch(() => {});
      regionSearcherFor(a.id, base).catch(() => {});
    }
    if (hits.length > 0 && input.value.trim()) render();
  });
  input.addEventListener("blur", () => close());
  select?.addEventListener("change", () => {
    hits = [];
    void run();
  });

  input.addEventListener("keydown", (e) => {
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        if (list.hidden && hits.length > 0) render();
        setActive(active + 1);
        break;
      case "ArrowUp":
        e.preventDefault();
        if (list.hidden && hits.length > 0) render();
        setActive(active < 0 ? -1 : active - 1);
        break;
      case "Enter": {
        e.preventDefault();
        clearTimeout(timer);
        const pick = hits[active] ?? (list.hidden ? undefined : hits[0]);
        if (pick) choose(pick);
        else void run().then(() => hits[0] && choose(hits[0]));
        break;
      }
      case "Escape":
        if (!list.hidden) {
          e.preventDefault();
          close();
        } else if (input.value) {
          input.value = "";
          typed = "";
          hits = [];
        }
        break;
    }
  });

  if (!withShortcut) return;
  // "/" jumps to the search box from anywhere that is not a text field.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target as HTMLElement | null;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    e.preventDefault();
    input.focus();
    input.select();
  });
}

export function initSearchBoxes(): void {
  // The "/" shortcut goes to the first box on the page (the header's).
  document.querySelectorAll<HTMLElement>("[data-search]").forEach((root, i) => setup(root, i === 0));
}
