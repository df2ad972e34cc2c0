/**
 * Serves a built site folder, as a static host would: `dir/index.html` for `/dir/`, the site's
 * own `404.html` for unknown paths, and caching off so a rebuilt atlas shows at once.
 * Used by `npm run demo` and by the end-to-end tests (on port 0). `headers` are added to every
 * response, e.g. a Content-Security-Policy to test the site under (docs/csp.md).
 *
 * By default it behaves like GitHub Pages (and GitLab Pages, S3/R2 with an error document): a
 * missing path gets 404.html with status 404. With `rewrites`, it also applies the 200 rewrites
 * of the site's `_redirects` file as Netlify does: only when no file matches the path, with
 * `:name` placeholders and a trailing `*` splat (see docs/hosting.md).
 */
import { createServer, type Server } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import sirv from "sirv";

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface Rewrite {
  /** Path pattern: literal segments, `:name` placeholders, and `*` as the last segment. */
  from: string;
  to: string;
}

/** The status-200 rules of a Netlify `_redirects` file (others are ignored: this server only rewrites). */
export function parseRewrites(text: string): Rewrite[] {
  const rules: Rewrite[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [from, to, status] = line.split(/\s+/);
    if (from && to && status === "200") rules.push({ from, to });
  }
  return rules;
}

/** Where `pathname` is rewritten to by the first matching rule, or null. */
export function rewriteTarget(rules: readonly Rewrite[], pathname: string): string | null {
  for (const rule of rules) {
    const pattern = rule.from.split("/");
    const parts = pathname.split("/");
    const values = new Map<string, string>();
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      if (p === "*" && i === pattern.length - 1) {
        values.set("splat", parts.slice(i).join("/"));
        parts.length = i;
        break;
      }
      const v = parts[i];
      if (v === undefined) ok = false;
      else if (p.startsWith(":") && v !== "") values.set(p.slice(1), v);
      else if (p !== v) ok = false;
    }
    if (ok && (pattern.at(-1) === "*" || parts.length === pattern.length)) {
      return rule.to.replace(/:([a-z]+)/gi, (m, name: string) => values.get(name) ?? m);
    }
  }
  return null;
}

export function serveStatic(
  dir: string,
  port = 0,
  host = "127.0.0.1",
  opts: { headers?: Record<string, string>; rewrites?: boolean } = {},
): Promise<StaticServer> {
  const notFoundPath = join(dir, "404.html");
  const notFound = existsSync(notFoundPath) ? readFileSync(notFoundPath) : Buffer.from("Not found");
  const redirectsPath = join(dir, "_redirects");
  const rules = opts.rewrites && existsSync(redirectsPath) ? parseRewrites(readFileSync(redirectsPath, "utf8")) : [];
  const files = sirv(dir, { dev: true, etag: false, extensions: ["html"] });
  const missing = (res: ServerResponse): void => {
    res.statusCode = 404;
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.end(notFound);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(opts.headers ?? {})) res.setHeader(name, value);
    files(req, res, () => {
      // A file always wins over a rule (Netlify's default, without `!`); one hop only.
      const target = rewriteTarget(rules, new URL(req.url ?? "/", "http://x").pathname);
      if (target === null) return missing(res);
      req.url = target;
      files(req, res, () => missing(res));
    });
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address() as AddressInfo;
      resolvePromise({
        url: `http://${host}:${actual}`,
        server,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
