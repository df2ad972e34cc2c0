import { describe, expect, it } from "vitest";
import { FORMAT_VERSION, parseManifest, searchTerms, shardFor } from "../../contract/atlas.ts";

describe("contract", () => {
  it("refuses a manifest of another format version with a rebuild hint", () => {
    expect(() => parseManifest({ formatVersion: FORMAT_VERSION + 1 })).toThrow(/formatVersion .* Rebuild the atlas/);
    expect(() => parseManifest(null)).toThrow(/formatVersion undefined/);
  });

  it("names the field that is wrong", () => {
    expect(() => parseManifest({ formatVersion: FORMAT_VERSION, id: "Not A Slug" }, "atlases/x/manifest.json")).toThrow(
      /atlases\/x\/manifest\.json does not match[\s\S]*id: must be lowercase/,
    );
  });

  it("finds the shard of an id by binary search", () => {
    const shards = [0, 256, 512].map((first) => ({ first, count: first === 512 ? 10 : 256, path: `features/${first}.json` }));
    expect(shardFor({ shards }, 0)?.first).toBe(0);
    expect(shardFor({ shards }, 255)?.first).toBe(0);
    expect(shardFor({ shards }, 256)?.first).toBe(256);
    expect(shardFor({ shards }, 521)?.first).toBe(512);
    expect(shardFor({ shards }, 522)).toBeUndefined();
    expect(shardFor({ shards }, -1)).toBeUndefined();
  });

  it("tokenises labels the same way for index and query", () => {
    expect(searchTerms("Café  déjà-vu, HURRICANE 2024!")).toEqual(["cafe", "deja", "vu", "hurricane", "2024"]);
    expect(searchTerms("<img src=x onerror=alert(1)>")).toEqual(["img", "src", "x", "onerror", "alert", "1"]);
    expect(searchTerms("   ")).toEqual([]);
  });
});
