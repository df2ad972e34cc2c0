/**
 * Static redirect pages for old region slugs (see `regionRedirectSchema` in contract/atlas.ts):
 * a static host has no server-side redirects we can rely on, so each old address gets a tiny
 * page that moves on at once without JavaScript (`<meta http-equiv="refresh">`), tells search
 * engines where the page lives now (`rel=canonical`, `noindex`) and shows a plain link for
 * anything that ignores both. Build time only (Node fs).
 */
import type { Region } from "../../contract/atlas.ts";
import { listAtlases } from "./atlases.ts";
import { regionPageUrl } from "./region-index.ts";
import { getRegions } from "./regions.ts";

export interface RegionRedirectProps {
  /** The region the old slug leads to. */
  to: Region;
}

/** Every old region address of every atlas, for `getStaticPaths`. Live slugs are never among them. */
export function regionRedirectPaths(): { params: { atlas: string; was: string }; props: RegionRedirectProps }[] {
  return listAtlases().flatMap((m) =>
    (getRegions(m)?.redirects ?? []).map(({ from, to }) => ({ params: { atlas: m.id, was: from }, props: { to } })),
  );
}

export interface RegionRedirectPage {
  /** The new page, under the site base: for the link and the refresh. */
  href: string;
  /** The new page as an absolute URL when the site's origin is known (`site`), else `href`. */
  canonical: string;
  /** The `content` of the refresh meta tag. */
  refresh: string;
}

export function regionRedirectPage(base: string, site: URL | undefined, atlasId: string, to: Region): RegionRedirectPage {
  const href = regionPageUrl(base, atlasId, to.slug);
  return { href, canonical: site ? new URL(href, site).href : href, refresh: `0; url=${href}` };
}
