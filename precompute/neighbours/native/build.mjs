#!/usr/bin/env node
// Builds the optional native int8 kernel (int8.cc) with node-gyp, the way npm builds hnswlib-node:
// run by `npm install` / `npm ci` (postinstall) and by `npm run build:native`.
//
// A failed build is not an install failure: the neighbour search then uses the WebAssembly kernel
// (../int8.ts), which gives the same bits, only about three times slower at 1M features. It says so
// here, and `npm run atlas` says which kernel it uses.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// npm hands its bundled node-gyp to scripts it runs; outside them, look for npm's beside node, then PATH.
const bundled = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
// Node's own headers (official tarballs and Debian both put them in <prefix>/include/node) spare
// node-gyp a download, which these build machines cannot make; npm's nodedir setting wins.
const prefix = join(dirname(process.execPath), "..");
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined);
const gypArgs = ["rebuild", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const [cmd, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ["node-gyp", gypArgs];
const started = Date.now();
const run = spawnSync(cmd, args, { cwd: here, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
if (run.status === 0) {
  console.log(`feature-atlas: built the native int8 kernel in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} else {
  const why = run.error ? run.error.message : (run.stderr || run.stdout || "").trim().split("\n").slice(-12).join("\n");
  console.warn(`feature-atlas: could not build the native int8 kernel; the neighbour search will use the WebAssembly one (same results, slower at large sizes).\n${why}`);
}
