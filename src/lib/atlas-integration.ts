/**
 * Publishes every atlas's files at `/<id>/data/…`: copied into the build output after
 * `astro build`, and served straight from the atlas folders by `astro dev`. The browser therefore
 * fetches the same URLs in both modes (`/<id>/data/manifest.json`, `/<id>/data/tiles/…`).
 * Feature splits between atlases (contract/splits.ts) go to `/splits/<small>--<large>/…` the same way.
 */
import { cp, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AstroIntegration } from "astro";
import sirv from "sirv";
import { atlasRoot, scanAtlases } from "./atlas-dir.ts";
import { scanSplits } from "./splits-dir.ts";
import { SPLITS_DIR } from "../../contract/splits.ts";
import { pageOptions, redirectsFile, rewriteFallback } from "./build-options.ts";
import { sitePart } from "./site-part.ts";

/** Every file under `dir`, recursively (dotfiles too: a host counts them). */
export async function countFilesUnder(dir: string): Promise<{ files: number }> {
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) files++;
  return { files };
}

export default function atlasIntegration(): AstroIntegration {
  let root = atlasRoot();
  let base = "/";
  return {
    name: "feature-atlas-data",
    hooks: {
      "astro:config:setup": ({ config, command, addWatchFile, logger }) => {
        root = atlasRoot(fileURLToPath(config.root));
        base = config.base;
        // Page rendering reads ATLAS_DIR again; make it absolute so it cannot resolve elsewhere.
        process.env["ATLAS_DIR"] = root;
        // The page budget counts public/'s files; the build may run in another working directory.
        process.env["SITE_PUBLIC_DIR"] = fileURLToPath(config.publicDir);
        // A budget is checked on the files one build wrote, so it cannot be split over processes
        // (budget sites are small: 87 s at 1M features, docs/hosting.md).
        if (command === "build" && sitePart().count > 1 && pageOptions().mode === "budget") {
          throw new Error("SITE_PART cannot be used with PAGES=budget: build a page-budget site in one process");
        }
        // Scanning here makes a bad manifest (e.g. another format version) fail the build at once.
        const atlases = scanAtlases(root, (m) => logger.warn(m));
        if (atlases.length === 0) logger.warn(`no atlases found under ${root}; the site will have a home page only`);
        scanSplits(root, atlases, (m) => logger.warn(m));
        if (command === "dev") for (const a of atlases) addWatchFile(path.join(a.dir, "manifest.json"));
      },
      "astro:server:setup": ({ server, logger }) => {
        const serveById = new Map(
          scanAtlases(root, (m) => logger.warn(m)).map((a) => [a.manifest.id, sirv(a.dir, { dev: true, etag: true })]),
        );
        // Feature splits (contract/splits.ts) at /splits/<small>--<large>/…, beside the atlases.
        const serveSplits = new Map(
          scanSplits(root, scanAtlases(root, () => {}), (m) => logger.warn(m)).map((s) => [s.name, sirv(s.dir, { dev: true, etag: true })]),
        );
        server.middlewares.use((req, res, next) => {
          const pair = new RegExp(`^/${SPLITS_DIR}/([a-z0-9-]+)(/.*)$`).exec(req.url ?? "");
          const servePair = pair && serveSplits.get(pair[1]!);
          if (pair && servePair) {
            req.url = pair[2]!;
            servePair(req, res, () => {
              res.statusCode = 404;
              res.end("not found");
            });
            return;
          }
          const match = /^\/([a-z0-9-]+)\/data(\/.*)$/.exec(req.url ?? "");
          const serve = match && serveById.get(match[1]!);
          if (!match || !serve) return next();
          // sirv resolves req.url against the atlas folder and refuses paths that leave it.
          req.url = match[2]!;
          serve(req, res, () => {
            res.statusCode = 404;
            res.end("not found");
          });
        });
      },
      "astro:build:done": async ({ dir, logger }) => {
        const out = fileURLToPath(dir);
        // In a build split over processes, the atlas data and _redirects come from part 0 alone.
        if (sitePart().index > 0) return;
        const atlases = scanAtlases(root, (m) => logger.warn(m));
        for (const a of atlases) {
          const target = path.join(out, a.manifest.id, "data");
          await cp(a.dir, target, { recursive: true });
          logger.info(`copied atlas ${a.manifest.id} → ${path.relative(process.cwd(), target)}`);
        }
        for (const s of scanSplits(root, atlases, () => {})) {
          const target = path.join(out, SPLITS_DIR, s.name);
          await cp(s.dir, target, { recursive: true });
          logger.info(`copied feature splits ${s.name} → ${path.relative(process.cwd(), target)}`);
        }
        if (rewriteFallback()) await writeFile(path.join(out, "_redirects"), redirectsFile(base, atlases.map((a) => a.manifest.id)));
        // The budget is a promise to the host: check the real count, not the plan's estimate.
        const pages = pageOptions();
        if (pages.mode === "budget") {
          const { files } = await countFilesUnder(out);
          if (files > pages.files) {
            throw new Error(`PAGE_BUDGET=${pages.files}, but the build wrote ${files} files into ${out}; lower the budget given to pages or raise ASSET_RESERVE in src/lib/page-set.ts`);
          }
          logger.info(`page budget: ${files.toLocaleString("en-US")} files of ${pages.files.toLocaleString("en-US")}`);
        }
      },
    },
  };
}
