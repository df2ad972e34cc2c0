import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readPreviousRegions } from "../../precompute/regions/files.ts";

/** A previous atlas of format `version` with one region of three features (feature 1 dead). */
function previousAtlas(version: number): string {
  const dir = mkdtempSync(join(tmpdir(), "prev-regions-"));
  mkdirSync(join(dir, "regions"));
  const region = {
    id: "0-0", level: 0, index: 0, parent: null, children: 0, members: 3,
    centroid: [0.5, 0.5], bounds: [0.4, 0.4, 0.6, 0.6], hull: [], name: "storms · rain",
    slug: "storms-rain", nameSource: "auto", terms: ["storms", "rain"], top: [0, 2, 3], cohesion: 0.5,
  };
  writeFileSync(join(dir, "regions", "0.json"), JSON.stringify({ formatVersion: version, level: 0, regions: [region] }));
  writeFileSync(join(dir, "regions", "members.json"), JSON.stringify({ formatVersion: version, levels: 1, leaf: [0, -1, 0, 0] }));
  writeFileSync(
    join(dir, "manifest.json"),
    JSON.stringify({ formatVersion: version, regions: { levels: [{ level: 0, count: 1, path: "regions/0.json" }], members: "regions/members.json" } }),
  );
  return dir;
}

describe("rebuilding over an atlas of another format version", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("keeps the region slugs of a version-1 or version-2 atlas, whose region files read the same", () => {
    for (const version of [1, 2]) {
      const dir = previousAtlas(version);
      dirs.push(dir);
      expect(readPreviousRegions(dir), `version ${version}`).toEqual([{ slug: "storms-rain", level: 0, members: [0, 2, 3] }]);
    }
  });

  it("starts afresh, rather than failing, for a version it does not know", () => {
    const dir = previousAtlas(99);
    dirs.push(dir);
    expect(readPreviousRegions(dir)).toEqual([]);
  });
});
