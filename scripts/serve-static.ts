/**
 * Serves a built site folder, as a static host would: `dir/index.html` for `/dir/`, the site's
 * own `404.html` for unknown paths, and caching off so a rebuilt atlas shows at once.
 * Used by `npm run demo` and by the end-to-end tests (on port 0). `headers` are added to every
 * response, e.g. a Content-Security-Policy to test the site under (docs/csp.md).
 */
import { createServer, type Server } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import sirv from "sirv";

export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function serveStatic(dir: string, port = 0, host = "127.0.0.1", opts: { headers?: Record<string, string> } = {}): Promise<StaticServer> {
  const notFoundPath = join(dir, "404.html");
  const notFound = existsSync(notFoundPath) ? readFileSync(notFoundPath) : Buffer.from("Not found");
  const files = sirv(dir, { dev: true, etag: false, extensions: ["html"] });
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(opts.headers ?? {})) res.setHeader(name, value);
    files(req, res, () => {
      res.statusCode = 404;
      res.setHeader("Content-Type", "text/html; charset=utf-8");
      res.end(notFound);
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
