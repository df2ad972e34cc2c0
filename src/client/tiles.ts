/**
 * Fetching and decoding point tiles (Arrow IPC streams). Each tile is fetched once; its columns
 * stay typed arrays that go to the GPU as they are — no JavaScript object per point.
 *
 * x and y arrive as Uint16 steps across the tile's square and are decoded here, once per tile,
 * into the Float32 layout positions that deck.gl draws and that hover, selection and the
 * "features in view" list read. deck.gl could take the Uint16 pairs as a normalised attribute with
 * a per-tile model matrix, but those CPU readers would need the decoded values anyway, and
 * decoding costs ~2 multiply-adds a point (well under a millisecond for a 4,096-row tile).
 */
import { tableFromIPC, type Table, type Utf8, type Vector } from "apache-arrow";
import type { Manifest, TileInfo } from "../../contract/atlas.ts";
import { decodeTilePositions } from "../../contract/tile-coords.ts";

export interface LoadedTile {
  key: string;
  info: TileInfo;
  length: number;
  ids: Uint32Array;
  /** x, y interleaved, layout units (y up): deck.gl's binary `getPosition` with size 2. */
  positions: Float32Array;
  log10Density: Float32Array;
  labels: Vector<Utf8>;
}

function column<T>(table: Table, name: string, type: new (...a: never[]) => T, where: string): T {
  const vector = table.getChild(name);
  if (!vector) throw new Error(`${where}: tile has no "${name}" column`);
  const values: unknown = vector.toArray();
  if (!(values instanceof type)) throw new Error(`${where}: column "${name}" has the wrong type (${String(vector.type)})`);
  return values;
}

export function decodeTile(info: TileInfo, bytes: Uint8Array, where: string): LoadedTile {
  const table = tableFromIPC(bytes);
  const ids = column(table, "id", Uint32Array, where);
  const x = column(table, "x", Uint16Array, where);
  const y = column(table, "y", Uint16Array, where);
  const log10Density = column(table, "log10Density", Float32Array, where);
  const labels = table.getChild("label") as Vector<Utf8> | null;
  if (!labels) throw new Error(`${where}: tile has no "label" column`);
  const length = table.numRows;
  if (x.length !== length || y.length !== length) throw new Error(`${where}: tile columns have different lengths`);
  const positions = decodeTilePositions(info.key, x, y);
  return { key: info.key, info, length, ids, positions, log10Density, labels };
}

export class TileStore {
  readonly infos: ReadonlyMap<string, TileInfo>;
  private readonly loaded = new Map<string, LoadedTile>();
  private readonly pending = new Map<string, Promise<LoadedTile | null>>();

  constructor(
    private readonly baseUrl: string,
    manifest: Manifest,
    private readonly onLoad: (tile: LoadedTile) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.infos = new Map(manifest.tiles.map((t) => [t.key, t]));
  }

  get(key: string): LoadedTile | undefined {
    return this.loaded.get(key);
  }

  /** Loaded tiles, in load order. */
  all(): IterableIterator<LoadedTile> {
    return this.loaded.values();
  }

  /** Start fetching `key` unless it is loaded or on its way; resolves with the tile, or null on failure. */
  request(key: string): Promise<LoadedTile | null> {
    const done = this.loaded.get(key);
    if (done) return Promise.resolve(done);
    let p = this.pending.get(key);
    if (!p) {
      const info = this.infos.get(key);
      if (!info) return Promise.resolve(null);
      const url = `${this.baseUrl}${info.path}`;
      // A failed tile stays failed for this page view: retrying in a loop on every pan would
      // hammer a broken server, and the rest of the map keeps working without it.
      p = fetch(url)
        .then(async (response) => {
          if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
          const tile = decodeTile(info, new Uint8Array(await response.arrayBuffer()), url);
          this.loaded.set(key, tile);
          this.onLoad(tile);
          return tile;
        })
        .catch((error: unknown) => {
          this.onError(error instanceof Error ? error : new Error(String(error)));
          return null;
        });
      this.pending.set(key, p);
    }
    return p;
  }

  /** Where feature `id` is among the loaded tiles, if anywhere. */
  find(id: number): { tile: LoadedTile; index: number } | null {
    for (const tile of this.loaded.values()) {
      const index = tile.ids.indexOf(id);
      if (index >= 0) return { tile, index };
    }
    return null;
  }
}
