/**
 * The header search box: an ARIA combobox over a listbox of features.
 *
 * The search index (flexsearch and its chunks) is loaded on first use, so pages that are only
 * read pay nothing for it. Choosing a result dispatches a cancelable `atlas:search-select` event
 * on window; the map page cancels it and flies to the feature, everywhere else the browser goes
 * to the feature's page. Results are untrusted text and are set with textContent only.
 */
import { SEARCH_SELECT_EVENT, type SearchSelectDetail } from "./events.ts";

interface Hit {
  id: number;
  label: string | null;
}

interface Searcher {
  search(query: string, limit: number): Promise<Hit[]>;
}

const LIMIT = 12;
const DEBOUNCE_MS = 120;

const searchers = new Map<string, Promise<Searcher>>();

function searcherFor(atlasId: string, base: string): Promise<Searcher> {
  let pending = searchers.get(atlasId);
  if (!pending) {
    pending = import("./search-loader.ts").then(({ createSearcher }) => createSearcher(atlasId, base));
    pending.catch(() => searchers.delete(atlasId));
    searchers.set(atlasId, pending);
  }
  return pending;
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
  // On a page under an atlas's path (e.g. a 404 at /<atlas>/feature/…/) search that atlas first.
  if (select) {
    const here = window.location.pathname.slice(base.length).split("/")[0];
    if (here && [...select.options].some((o) => o.value === here)) select.value = here;
  }
  const atlasId = (): string => select?.value ?? root.dataset["atlas"] ?? "";

  let hits: Hit[] = [];
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
    const options = list.querySelectorAll<HTMLLIElement>("li[data-id]");
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

  const choose = (hit: Hit): void => {
    const atlas = atlasId();
    close();
    const event = new CustomEvent<SearchSelectDetail>(SEARCH_SELECT_EVENT, {
      detail: { atlas, id: hit.id },
      cancelable: true,
    });
    if (window.dispatchEvent(event)) {
      window.location.href = featureHref(base, atlas, hit.id);
    } else {
      input.blur();
    }
  };

  const render = (): void => {
    list.replaceChildren();
    if (hits.length === 0) {
      showStatus("No matching features");
      return;
    }
    hits.forEach((hit, i) => {
      const li = document.createElement("li");
      li.id = `${list.id}-option-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset["id"] = String(hit.id);
      const label = document.createElement("span");
      label.className = "result-label";
      label.textContent = hit.label && hit.label.trim() ? hit.label : `Feature #${hit.id}`;
      const id = document.createElement("span");
      id.className = "result-id";
      id.textContent = `#${hit.id}`;
      li.append(label, id);
      // mousedown would blur the input (and close the list) before click lands.
      li.addEventListener("mousedown", (e) => e.preventDefault());
      li.addEventListener("click", () => choose(hit));
      list.append(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (live) live.textContent = `${hits.length} result${hits.length === 1 ? "" : "s"}`;
    active = -1;
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
      const searcher = await searcherFor(atlasId(), base);
      const found = await searcher.search(query, LIMIT);
      if (mine !== sequence) return;
      hits = found;
      render();
    } catch (error) {
      if (mine !== sequence) return;
      console.warn("search failed:", error);
      hits = [];
      showStatus("Search is unavailable right now");
    }
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), DEBOUNCE_MS);
  });
  // Start loading the index as soon as the user shows interest.
  input.addEventListener("focus", () => {
    searcherFor(atlasId(), base).catch(() => {});
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
