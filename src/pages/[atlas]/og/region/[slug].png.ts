/** One link-preview image per region, for atlases whose preview policy is `regions` (see src/lib/og-image.ts). */
import type { APIRoute, GetStaticPaths } from "astro";
import { getManifest, listAtlases } from "../../../../lib/atlases.ts";
import { previewSvg, renderPng } from "../../../../lib/og-image.ts";
import { ogPlan } from "../../../../lib/og-plan.ts";
import { regionCard } from "../../../../lib/preview-cards.ts";
import { inThisPart } from "../../../../lib/site-part.ts";

export const getStaticPaths = (() =>
  inThisPart(listAtlases().flatMap((m) => ogPlan(m).regions.map((r) => ({ params: { atlas: m.id, slug: r.slug } }))))) satisfies GetStaticPaths;

export const GET: APIRoute = ({ params }) => {
  const manifest = getManifest(params.atlas!);
  const region = ogPlan(manifest).regions.find((r) => r.slug === params.slug);
  if (!region) return new Response(null, { status: 404 });
  const png = renderPng(previewSvg(regionCard(manifest, region)));
  return new Response(new Uint8Array(png), { headers: { "Content-Type": "image/png" } });
};
