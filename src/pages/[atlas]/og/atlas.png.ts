/** The atlas-level link-preview image: every atlas gets one, whatever its policy. */
import type { APIRoute, GetStaticPaths } from "astro";
import { getManifest, listAtlases } from "../../../lib/atlases.ts";
import { previewSvg, renderPng } from "../../../lib/og-image.ts";
import { atlasCard } from "../../../lib/preview-cards.ts";
import { inThisPart } from "../../../lib/site-part.ts";

export const getStaticPaths = (() => inThisPart(listAtlases().map((m) => ({ params: { atlas: m.id } })))) satisfies GetStaticPaths;

export const GET: APIRoute = ({ params }) => {
  const png = renderPng(previewSvg(atlasCard(getManifest(params.atlas!))));
  return new Response(new Uint8Array(png), { headers: { "Content-Type": "image/png" } });
};
