/**
 * One link-preview image per feature, for atlases whose preview policy is `all` (OG_IMAGES; see
 * src/lib/og-image.ts), and only for features with a static page. Rendered at build time.
 */
import type { APIRoute, GetStaticPaths } from "astro";
import { getFeature, getManifest, listAtlases } from "../../../../lib/atlases.ts";
import { featurePagePaths } from "../../../../lib/page-plan.ts";
import { previewSvg, renderPng } from "../../../../lib/og-image.ts";
import { ogPlan } from "../../../../lib/og-plan.ts";
import { featureCard } from "../../../../lib/preview-cards.ts";
import { inThisPart } from "../../../../lib/site-part.ts";

export const getStaticPaths = (() =>
  inThisPart(featurePagePaths(listAtlases().filter((m) => ogPlan(m).policy === "all")))) satisfies GetStaticPaths;

export const GET: APIRoute = ({ params }) => {
  const manifest = getManifest(params.atlas!);
  const png = renderPng(previewSvg(featureCard(manifest, getFeature(manifest.id, Number(params.id)))));
  return new Response(new Uint8Array(png), { headers: { "Content-Type": "image/png" } });
};
