/**
 * The activation histogram (`freq_hist_data_bar_heights/values`) read from SAEDashboard batches and
 * Neuronpedia features rows, and carried into the feature records.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { featureRecordSchema } from "../../contract/atlas.ts";
import { capExamples, loadActivations, sortExamples } from "../../precompute/read/activations.ts";
import { cleanTemp, fixtures, jsonl, tempDir, write } from "./helpers/read-files.ts";

afterEach(cleanTemp);

const batch0 = join(fixtures, "saedashboard-gpt2-small-0-res-jb", "batch-0.json");

describe("activation histogram", () => {
  it("reads the real SAEDashboard batch: bars as given, none for a feature that never fired", () => {
    const raw = JSON.parse(readFileSync(batch0, "utf8")) as {
      features: { feature_index: number; freq_hist_data_bar_heights: number[]; freq_hist_data_bar_values: number[] }[];
    };
    const { activations } = loadActivations(batch0, 24576);
    let withHist = 0;
    for (const f of raw.features) {
      const entry = activations.get(f.feature_index)!;
      if (f.freq_hist_data_bar_heights.length === 0) {
        expect(entry.histogram ?? null).toBeNull();
        continue;
      }
      withHist++;
      expect(entry.histogram).toEqual({ heights: f.freq_hist_data_bar_heights, values: f.freq_hist_data_bar_values });
    }
    expect(withHist).toBeGreaterThan(0);
  });

  it("reads Neuronpedia features rows, and refuses mismatched or negative bars naming the row", () => {
    const dir = tempDir();
    const row = { index: "3", frac_nonzero: 0.1, freq_hist_data_bar_heights: [5, 2, 0], freq_hist_data_bar_values: [0.5, 1.5, 2.5] };
    write(join(dir, "features", "batch-0.jsonl.gz"), jsonl([row]), true);
    expect(loadActivations(dir, 10).activations.get(3)!.histogram).toEqual({ heights: [5, 2, 0], values: [0.5, 1.5, 2.5] });

    const bad = tempDir();
    write(join(bad, "features", "batch-0.jsonl.gz"), jsonl([{ ...row, freq_hist_data_bar_values: [0.5] }]), true);
    expect(() => loadActivations(bad, 10)).toThrow(/batch-0\.jsonl\.gz.*line 1.*feature 3.*same length/);
    const negative = tempDir();
    write(join(negative, "features", "batch-0.jsonl.gz"), jsonl([{ ...row, freq_hist_data_bar_heights: [5, -1, 0] }]), true);
    expect(() => loadActivations(negative, 10)).toThrow(/feature 3.*heights\[1\] = -1/);
  });

  it("the same feature's histogram from two files is an error", () => {
    const dir = tempDir();
    const row = { index: "3", freq_hist_data_bar_heights: [1], freq_hist_data_bar_values: [0.5] };
    const a = write(join(dir, "a", "features", "batch-0.jsonl.gz"), jsonl([row]), true);
    const b = write(join(dir, "b", "features", "batch-0.jsonl.gz"), jsonl([row]), true);
    expect(() => loadActivations([a, b], 10)).toThrow(/feature 3 already has an activation histogram/);
  });

  it("the record schema accepts a histogram, none, and refuses unequal lengths", () => {
    const base = {
      id: 0, label: null, labelSource: null, otherLabels: [], density: null, decoderNorm: 1, dead: false,
      x: 0.5, y: 0.5, neighbours: [], examples: [], logits: null,
    };
    expect(featureRecordSchema.safeParse(base).success).toBe(true);
    expect(featureRecordSchema.safeParse({ ...base, histogram: null }).success).toBe(true);
    expect(featureRecordSchema.safeParse({ ...base, histogram: { heights: [1, 2], values: [0.1, 0.2] } }).success).toBe(true);
    expect(featureRecordSchema.safeParse({ ...base, histogram: { heights: [1, 2], values: [0.1] } }).success).toBe(false);
  });
});

describe("capExamples keeps every quantile group", () => {
  const ex = (maxValue: number, bin: [number, number] | null) => ({ tokens: ["a"], values: [maxValue], maxIndex: 0, maxValue, bin });
  it("gives the top group half the slots, then the intervals take turns from high to low", () => {
    const top = [9, 8.5, 8, 7.5, 7, 6.5, 6].map((v) => ex(v, null));
    const hi = [5, 4.5, 4].map((v) => ex(v, [4, 6] as [number, number]));
    const lo = [1, 0.5].map((v) => ex(v, [0, 2] as [number, number]));
    const kept = capExamples(sortExamples([...lo, ...hi, ...top]), 6);
    // Top group: 3 of 6 slots first; then one turn each: top (7.5), [4, 6] (5), [0, 2] (1).
    expect(kept.map((e) => e.maxValue)).toEqual([9, 8.5, 8, 7.5, 5, 1]);
  });
  it("cuts a single group plainly and leaves short lists alone", () => {
    const top = [3, 2, 1].map((v) => ex(v, null));
    expect(capExamples(top, 2).map((e) => e.maxValue)).toEqual([3, 2]);
    expect(capExamples(top, 5)).toBe(top);
  });
  it("the real SAEDashboard batch keeps its intervals under the default cap of 20", () => {
    const { activations } = loadActivations(batch0, 24576, { maxExamples: 20 });
    const f0 = activations.get(0)!;
    expect(f0.examples).toHaveLength(20);
    expect(f0.examples.filter((e) => e.bin === null).length).toBeGreaterThanOrEqual(10);
    expect(new Set(f0.examples.filter((e) => e.bin).map((e) => e.bin!.join())).size).toBeGreaterThan(1);
  });
});
