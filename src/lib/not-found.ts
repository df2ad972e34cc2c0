/**
 * What the 404 page says about the address it was served for: which atlas and feature were asked
 * for, and why there is nothing there. Pure; runs in the browser.
 */
import { formatCount } from "./format.ts";

export interface AtlasSummary {
  id: string;
  title: string;
  features: number;
}

export interface MissingExplanation {
  /** The path as asked for (decoded for display). */
  path: string;
  message: string;
  /** Where to go instead. */
  link: { href: string; text: string } | null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function explainMissing(pathname: string, base: string, atlases: AtlasSummary[]): MissingExplanation {
  const path = safeDecode(pathname);
  const rest = pathname.startsWith(base) ? pathname.slice(base.length) : pathname.replace(/^\//, "");
  const [atlasId = "", ...segments] = rest.split("/").filter(Boolean).map(safeDecode);
  const list = atlases.map((a) => a.title).join(", ");
  const atlas = atlases.find((a) => a.id === atlasId);
  if (!atlasId) return { path, message: "this page does not exist.", link: null };
  if (!atlas) {
    return {
      path,
      message: atlases.length
        ? `there is no atlas “${atlasId}” on this site. It has ${atlases.length === 1 ? "one atlas" : `${atlases.length} atlases`}: ${list}.`
        : `there is no atlas “${atlasId}” on this site.`,
      link: atlases.length === 1 ? { href: `${base}${atlases[0]!.id}/`, text: `Open ${atlases[0]!.title}` } : null,
    };
  }
  const home = { href: `${base}${atlas.id}/`, text: `Open the map of ${atlas.title}` };
  const range = `this atlas has features 0–${formatCount(atlas.features - 1)}.`;
  const kind = segments[0] === "embed" ? segments.slice(1) : segments;
  if (kind[0] === "feature") {
    const raw = kind[1] ?? "";
    if (/^\d+$/.test(raw)) {
      const n = Number(raw);
      return {
        path,
        message: n >= atlas.features ? `feature ${formatCount(n)} is out of range: ${range}` : `this page of feature ${n} is missing from the build; ${range}`,
        link: home,
      };
    }
    return { path, message: `“${raw}” is not a feature number: ${range}`, link: home };
  }
  return { path, message: `there is no such page in ${atlas.title}.`, link: home };
}
