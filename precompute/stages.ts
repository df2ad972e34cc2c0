/**
 * The data that flows between precompute stages (read → neighbours → layout → tiles/search →
 * write). Each stage folder exports one main function taking and returning these shapes; the
 * orchestration lives in `build.ts`. Internal to precompute: the site only sees `contract/`.
 */
import type { DictionaryInfo, Example, Histogram, InputFile } from "../contract/atlas.ts";

/** A dictionary as read from disk, before any processing. */
export interface Dictionary {
  info: DictionaryInfo;
  /** W_dec as [dSae × dIn] row-major floats: row i is feature i's decoder direction, not normalised. */
  decoder: Float32Array;
  /** log10 firing frequency per feature (SAELens `sparsity.safetensors`); NaN where unknown. Null when absent. */
  log10Density: Float32Array | null;
  /** The files read, with hashes, for the manifest. */
  inputs: InputFile[];
}

/** Labels keyed by feature id. */
export interface LabelEntry {
  label: string;
  /** Where the label came from: the file name, or an explanation model. */
  source: string;
  /** Other labels for the same feature, best first. */
  others: string[];
}

/** Evidence keyed by feature id, from SAEDashboard / Neuronpedia activation files. */
export interface ActivationEntry {
  examples: Example[];
  /** Firing density in [0, 1] (`frac_nonzero`), when given. */
  density: number | null;
  logits: { positive: { token: string; value: number }[]; negative: { token: string; value: number }[] } | null;
  /** Activation histogram (`freq_hist_data_bar_*`), when given; see featureRecordSchema.histogram. */
  histogram?: Histogram | null;
}

export interface Metadata {
  labels: Map<number, LabelEntry>;
  activations: Map<number, ActivationEntry>;
  inputs: InputFile[];
}

/**
 * A kNN graph in the layout UMAP expects: for each point i, `k1 = k + 1` neighbours with i itself
 * at slot 0 (distance 0), then its k nearest by cosine distance (1 − cos), ascending. Dead
 * points (left out of the graph) list only themselves, padded with their own id at distance 0.
 */
export interface KnnGraph {
  n: number;
  /** Neighbours per point including itself (k + 1). */
  k1: number;
  /** [n × k1] neighbour ids. */
  indices: Int32Array;
  /** [n × k1] cosine distances, 1 − cos, in [0, 2]. */
  distances: Float32Array;
}

/** Reports progress of a long step; `done` counts up to `total`. */
export type Progress = (done: number, total: number) => void;
