/**
 * Assembles each feature's full record (label, statistics, neighbours, examples) from the
 * outputs of the earlier stages, and cuts the records into shards of contiguous ids.
 */
import { FORMAT_VERSION, type FeatureRecord, type FeatureShard } from "../../contract/atlas.ts";
import type { KnnGraph, Metadata } from "../stages.ts";

export interface RecordInputs {
  n: number;
  norms: Float32Array;
  alive: Uint8Array;
  graph: KnnGraph;
  xy: Float32Array;
  /** Density per feature in [0, 1], NaN when unknown. */
  density: Float64Array;
  metadata: Metadata;
  storedNeighbours: number;
  storedExamples: number;
}

/**
 * Density per feature: the dictionary's own firing statistics (`sparsity.safetensors`) when
 * present, because they come from the training run over many tokens; otherwise the dashboard's
 * `frac_nonzero`. NaN when neither says.
 */
export function resolveDensity(n: number, log10Density: Float32Array | null, metadata: Metadata): Float64Array {
  const out = new Float64Array(n).fill(NaN);
  for (let i = 0; i < n; i++) {
    const l = log10Density?.[i];
    if (l !== undefined && Number.isFinite(l)) out[i] = Math.min(1, 10 ** l);
    else {
      const d = metadata.activations.get(i)?.density;
      if (d !== undefined && d !== null) out[i] = d;
    }
  }
  return out;
}

/** Round for storage: 6 significant digits is far below anything a reader can see, and halves the bytes. */
function round(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

export function featureRecord(i: number, inp: RecordInputs): FeatureRecord {
  const { graph, metadata } = inp;
  const label = metadata.labels.get(i);
  const acts = metadata.activations.get(i);
  const neighbours: FeatureRecord["neighbours"] = [];
  if (inp.alive[i]) {
    for (let s = 1; s < graph.k1 && neighbours.length < inp.storedNeighbours; s++) {
      const j = graph.indices[i * graph.k1 + s]!;
      if (j === i) continue;
      neighbours.push({
        id: j,
        cosine: round(1 - graph.distances[i * graph.k1 + s]!),
        label: metadata.labels.get(j)?.label ?? null,
      });
    }
  }
  const d = inp.density[i]!;
  return {
    id: i,
    label: label?.label ?? null,
    labelSource: label?.source ?? null,
    otherLabels: label?.others ?? [],
    density: Number.isFinite(d) ? round(d) : null,
    decoderNorm: round(inp.norms[i]!),
    dead: !inp.alive[i],
    x: round(inp.xy[2 * i]!),
    y: round(inp.xy[2 * i + 1]!),
    neighbours,
    examples: (acts?.examples ?? []).slice(0, inp.storedExamples),
    logits: acts?.logits ?? null,
    // Left out rather than null when unknown: most atlases have none, and it would cost bytes in every record.
    ...(acts?.histogram ? { histogram: acts.histogram } : {}),
  };
}

/** Cut ids 0 … n−1 into shards of `size` records each. */
export function* featureShards(inp: RecordInputs, size: number): Generator<FeatureShard> {
  for (let first = 0; first < inp.n; first += size) {
    const features: FeatureRecord[] = [];
    for (let i = first; i < Math.min(inp.n, first + size); i++) features.push(featureRecord(i, inp));
    yield { formatVersion: FORMAT_VERSION, first, features };
  }
}
