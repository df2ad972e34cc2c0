/**
 * `/<atlas>/regions.json`: the region index (see src/lib/region-index.ts) that the search box and
 * the map's `?r=` links read. Atlases without regions get an empty index, so clients need no
 * special case.
 */
import type { APIRoute } from "astro";
import { getManifest, listAtlases } from "../../lib/atlases.ts";
import { encodeRegionIndex } from "../../lib/region-index.ts";
import { getRegions } from "../../lib/regions.ts";
import { inThisPart } from "../../lib/site-part.ts";

export function getStaticPaths() {
  return inThisPart(listAtlases().map((m) => ({ params: { atlas: m.id } })));
}

export const GET: APIRoute = ({ params }) => {
  const regions = getRegions(getManifest(params.atlas!));
  const body = JSON.stringify(encodeRegionIndex(regions?.levels ?? []));
  return new Response(body, { headers: { "Content-Type": "application/json; charset=utf-8" } });
};
