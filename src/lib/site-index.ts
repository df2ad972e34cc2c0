/**
 * The home page's view of the atlases: grouped by model and hook point (atlases of one group are
 * dictionaries of the same activations, e.g. a 4k and a 16k SAE, and are worth comparing), with
 * the figures a reader compares them by. Pure functions over manifests, so they are unit-tested;
 * file access lives in atlases.ts.
 */
import type { Manifest } from "../../contract/atlas.ts";

export interface AtlasSummary {
  id: string;
  title: string;
  description: string;
  model: string | null;
  hookName: string | null;
  architecture: string;
  /** Features (d_sae). */
  width: number;
  dIn: number;
  /**
   * Features firing per token: TopK's k (exact), the `average_l0` a Gemma Scope path names, or
   * the sum of the densities (the manifest's `activity.meanL0`), in that order of preference.
   */
  l0: { value: number; source: "k" | "config" | "densities" } | null;
  /** Median firing density of the features with a known density. */
  medianDensity: number | null;
  features: number;
  labelled: number;
  dead: number;
  /** When the atlas was built: see atlasBuildDate in atlases.ts. */
  builtAt: Date;
}

export interface AtlasGroup {
  /** Stable key of the group: model and hook point ("" for unknown). */
  key: string;
  model: string | null;
  hookName: string | null;
  atlases: AtlasSummary[];
}

/** Whether two manifests are dictionaries of the same model and hook point (unknown matches unknown). */
export function groupKey(m: Pick<Manifest, "dictionary">): string {
  return `${m.dictionary.model ?? ""}\u0000${m.dictionary.hookName ?? ""}`;
}

export function summarise(m: Manifest, builtAt: Date): AtlasSummary {
  const d = m.dictionary;
  const configL0 = d.rawConfig["average_l0"];
  const l0: AtlasSummary["l0"] =
    d.k !== null
      ? { value: d.k, source: "k" }
      : typeof configL0 === "number" && Number.isFinite(configL0) && configL0 > 0
        ? { value: configL0, source: "config" }
        : m.activity?.meanL0 != null
          ? { value: m.activity.meanL0, source: "densities" }
          : null;
  return {
    id: m.id,
    title: m.title,
    description: m.description,
    model: d.model,
    hookName: d.hookName,
    architecture: d.architecture,
    width: d.dSae,
    dIn: d.dIn,
    l0,
    medianDensity: m.activity?.medianDensity ?? null,
    features: m.counts.features,
    labelled: m.counts.labelled,
    dead: m.counts.dead,
    builtAt,
  };
}

/**
 * Groups in the order of their first atlas; atlases in `order` (the site config's order, from
 * site.json) first, the rest by id; within a group, by that order, then by width.
 */
export function groupAtlases(summaries: AtlasSummary[], keyOf: (s: AtlasSummary) => string, order: readonly string[] = []): AtlasGroup[] {
  const rank = (id: string) => {
    const i = order.indexOf(id);
    return i < 0 ? order.length : i;
  };
  const sorted = [...summaries].sort((a, b) => rank(a.id) - rank(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const groups = new Map<string, AtlasGroup>();
  for (const s of sorted) {
    const key = keyOf(s);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { key, model: s.model, hookName: s.hookName, atlases: [] }));
    g.atlases.push(s);
  }
  for (const g of groups.values()) g.atlases.sort((a, b) => rank(a.id) - rank(b.id) || a.width - b.width);
  return [...groups.values()];
}

/** The other atlases of the same model and hook point as `id`, in home page order. */
export function siblingsOf(manifests: Manifest[], id: string, order: readonly string[] = []): Manifest[] {
  const self = manifests.find((m) => m.id === id);
  if (!self) return [];
  const key = groupKey(self);
  const rank = (x: string) => {
    const i = order.indexOf(x);
    return i < 0 ? order.length : i;
  };
  return manifests
    .filter((m) => m.id !== id && groupKey(m) === key)
    .sort((a, b) => rank(a.id) - rank(b.id) || a.dictionary.dSae - b.dictionary.dSae || (a.id < b.id ? -1 : 1));
}

/**
 * The build date shown for an atlas. The atlas holds no timestamp (it is byte-deterministic), so
 * the date is the manifest file's mtime, which the writer sets when it swaps the atlas in. When
 * SOURCE_DATE_EPOCH is set (reproducible-builds.org), it is used instead, so that the site's own
 * bytes can be reproduced too.
 */
export function buildDate(mtime: Date, sourceDateEpoch: string | undefined): Date {
  if (sourceDateEpoch !== undefined && /^\d+$/.test(sourceDateEpoch.trim())) return new Date(Number(sourceDateEpoch.trim()) * 1000);
  return mtime;
}

/** "26 Nov 2026", in UTC so that the page does not depend on the build machine's time zone. */
export function formatBuildDate(d: Date): string {
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}
