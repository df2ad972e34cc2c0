/**
 * Site build switches read from the environment, for atlases where a page per feature per
 * purpose gets expensive (see the README's "Feature pages at scale").
 *
 * EMBED_PAGES=all (default) | none — whether every feature gets an embed card page at
 * /<atlas>/embed/feature/<id>/. Each is ~5 KB and ~3 ms of build time, so at 1M features they add
 * a million files and most of an hour; with `none` the feature pages stop offering the snippet.
 */
export function embedPagesEnabled(env: string | undefined = process.env["EMBED_PAGES"]): boolean {
  const v = (env ?? "all").trim().toLowerCase();
  if (v !== "all" && v !== "none") throw new Error(`EMBED_PAGES must be "all" or "none"; got ${JSON.stringify(env)}`);
  return v === "all";
}
