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

/** Which features get a static page when the site has a file budget (see `PageOptions`). */
export type PagePolicy = "labelled" | "densest" | "list";

/**
 * How many static pages the site writes. `all` (the default): every feature, region and embed gets
 * its page. `budget`: the whole output folder — pages, preview images, the atlases' data files,
 * scripts and stylesheets — holds at most `files` files, for hosts that cap a site's file count
 * (docs/hosting.md); features outside the chosen set are served by the fallback page in the
 * browser, at the same URL. A site config file can carry the same object.
 */
export type PageOptions =
  | { mode: "all" }
  | {
      mode: "budget";
      /** Most files in the whole build output, ≥ 1. */
      files: number;
      /**
       * Which features get static pages first: `labelled` (labelled before unlabelled, each by
       * density, most frequent first), `densest` (by density alone), or `list` (the ids in `list`,
       * in file order). Ties go to the lower id, so the choice is deterministic.
       */
      policy: PagePolicy;
      /** For policy `list`: a file of feature ids, one per line (`<id>` or `<atlas>/<id>`; `#` starts a comment). */
      list?: string;
    };

/**
 * PAGES=all (default) | budget, with PAGE_BUDGET=<files> (required for budget), PAGE_POLICY=
 * labelled (default) | densest | list, and PAGE_LIST=<file> (required for list).
 */
export function pageOptions(env: Record<string, string | undefined> = process.env): PageOptions {
  const mode = (env["PAGES"] ?? "all").trim().toLowerCase();
  if (mode === "all") return { mode: "all" };
  if (mode !== "budget") throw new Error(`PAGES must be "all" or "budget"; got ${JSON.stringify(env["PAGES"])}`);
  const raw = (env["PAGE_BUDGET"] ?? "").trim().replace(/[_,]/g, "");
  const files = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(files) || files < 1) {
    throw new Error(`PAGES=budget needs PAGE_BUDGET, the most files the site may have (a positive integer); got ${JSON.stringify(env["PAGE_BUDGET"])}`);
  }
  const policy = (env["PAGE_POLICY"] ?? "labelled").trim().toLowerCase();
  if (policy !== "labelled" && policy !== "densest" && policy !== "list") {
    throw new Error(`PAGE_POLICY must be "labelled", "densest" or "list"; got ${JSON.stringify(env["PAGE_POLICY"])}`);
  }
  if (policy === "list") {
    const list = env["PAGE_LIST"]?.trim();
    if (!list) throw new Error("PAGE_POLICY=list needs PAGE_LIST, a file of feature ids, one per line");
    return { mode: "budget", files, policy, list };
  }
  return { mode: "budget", files, policy };
}

/**
 * PAGE_FALLBACK=404 (default) | rewrite — how hosts reach the fallback page of features without a
 * static page. `404`: the host serves 404.html for any missing path (GitHub Pages, GitLab Pages,
 * Cloudflare Pages, Netlify, S3/R2 with an error document, nginx `error_page`), with status 404.
 * `rewrite`: also write `_redirects` with a 200 rewrite of `/<atlas>/feature/*` to /fallback/,
 * for Netlify, which applies such a rule only when no file matches. Not for Cloudflare Pages: it
 * applies `_redirects` rules before its files, so the rule would hide every static page.
 */
export function rewriteFallback(env: string | undefined = process.env["PAGE_FALLBACK"]): boolean {
  const v = (env ?? "404").trim().toLowerCase();
  if (v !== "404" && v !== "rewrite") throw new Error(`PAGE_FALLBACK must be "404" or "rewrite"; got ${JSON.stringify(env)}`);
  return v === "rewrite";
}

/** The `_redirects` rules for PAGE_FALLBACK=rewrite: one splat rule per atlas, to the fallback page. */
export function redirectsFile(base: string, atlasIds: readonly string[]): string {
  const b = base.endsWith("/") ? base : `${base}/`;
  const lines = ["# Features without a static page are drawn by the fallback page (docs/hosting.md)."];
  for (const id of atlasIds) lines.push(`${b}${id}/feature/* ${b}fallback/ 200`);
  return `${lines.join("\n")}\n`;
}

/**
 * Lean feature pages: in atlases with more than LEAN_PAGES_ABOVE features (default 100,000), a
 * feature page's HTML holds its LEAN_EXAMPLES strongest examples and the rest load from its shard
 * on request (a button; without JavaScript, a link to the shard). Examples are most of a page's
 * bytes (~9 of ~30 KB for GPT-2 windows), and a million pages are gigabytes of HTML; the strongest
 * examples, the density, logits, neighbours and the mini-map stay in the HTML for readers without
 * JavaScript and for link previews. Smaller atlases keep every example in the HTML.
 */
export const LEAN_EXAMPLES = 5;

export function leanPagesAbove(env: string | undefined = process.env["LEAN_PAGES_ABOVE"]): number {
  if (env === undefined || env.trim() === "") return 100_000;
  const n = Number(env.trim().replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`LEAN_PAGES_ABOVE must be a feature count (a non-negative integer); got ${JSON.stringify(env)}`);
  return n;
}
