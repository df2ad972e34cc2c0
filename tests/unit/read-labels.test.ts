import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanLabel, loadLabels, MAX_LABEL_CHARS, readLabels } from "../../precompute/read/labels.ts";
import { parseCsv } from "../../precompute/read/csv.ts";
import { InputError } from "../../precompute/read/safetensors.ts";
import { cleanTemp, fixtures, jsonl, tempDir, write } from "./helpers/read-files.ts";

afterAll(cleanTemp);

const N = 100;
const quiet = { warn: () => {} };

function entries(map: Map<number, { label: string; source: string; others: string[] }>) {
  return [...map].map(([id, e]) => [id, e.label, e.source, e.others]);
}

describe("label formats", () => {
  it("JSON object {id: label}", () => {
    const p = write(join(tempDir(), "labels.json"), JSON.stringify({ "7": "  cats and dogs ", "2": "numbers", "40": { label: "from an object" } }));
    expect(entries(readLabels(p, N))).toEqual([
      [2, "numbers", "labels.json", []],
      [7, "cats and dogs", "labels.json", []],
      [40, "from an object", "labels.json", []],
    ]);
  });

  it("JSON array with the usual id and label field names", () => {
    const p = write(join(tempDir(), "labels.json"), JSON.stringify([
      { index: 1, label: "a" },
      { featureIndex: "2", description: "b" },
      { feature: 3, explanation: "c" },
      { id: 4, Name: "d" },
      { feature_index: 5, text: "e" },
    ]));
    expect(entries(readLabels(p, N)).map(([id, l]) => [id, l])).toEqual([[1, "a"], [2, "b"], [3, "c"], [4, "d"], [5, "e"]]);
  });

  it("JSONL, including a .json file that is really JSON lines", () => {
    const rows = [{ index: 3, label: "three" }, { index: 1, label: "one" }];
    expect(entries(readLabels(write(join(tempDir(), "l.jsonl"), jsonl(rows)), N)).map(([id, l]) => [id, l])).toEqual([[1, "one"], [3, "three"]]);
    expect(readLabels(write(join(tempDir(), "l.json"), jsonl(rows)), N).get(3)!.label).toBe("three");
  });

  it("CSV with quoted fields, commas, doubled quotes and newlines inside quotes", () => {
    const csv = 'feature,other,label\r\n1,x,plain\r\n2,y,"with, comma"\r\n3,z,"say ""hi"""\r\n4,w,"two\nlines"\r\n\r\n';
    const labels = readLabels(write(join(tempDir(), "labels.csv"), csv), N);
    expect(entries(labels).map(([id, l]) => [id, l])).toEqual([[1, "plain"], [2, "with, comma"], [3, 'say "hi"'], [4, "two\nlines"]]);
  });

  it("TSV", () => {
    const labels = readLabels(write(join(tempDir(), "labels.tsv"), "index\tdescription\n5\tfive, with comma\n"), N);
    expect(labels.get(5)!.label).toBe("five, with comma");
  });

  it("Neuronpedia explanations: string index, several per feature, best by score then a stable order", () => {
    const rows = [
      { id: "c1", modelId: "gpt2-small", layer: "6-res-jb", index: "4", description: "zebra things", typeName: "oai_token-act-pair", explanationModelName: "gpt-4o-mini" },
      { id: "c2", modelId: "gpt2-small", layer: "6-res-jb", index: "4", description: "apple things", typeName: "oai_token-act-pair", explanationModelName: "gpt-4o-mini" },
      { id: "c3", modelId: "gpt2-small", layer: "6-res-jb", index: "4", description: "claude's view", typeName: "np_acts-logits-general", explanationModelName: "claude-3-5-haiku" },
      { id: "c4", modelId: "gpt2-small", layer: "6-res-jb", index: "9", description: "scored low", typeName: "t", explanationModelName: "m", scores: [{ value: 0.1 }] },
      { id: "c5", modelId: "gpt2-small", layer: "6-res-jb", index: "9", description: "scored high", typeName: "t", explanationModelName: "m2", scores: [{ value: 0.2 }, { value: 0.9 }] },
      { id: "c6", modelId: "gpt2-small", layer: "6-res-jb", index: "9", description: "unscored", typeName: "t", explanationModelName: "a" },
    ];
    const dir = tempDir();
    const forward = readLabels(write(join(dir, "batch-0.jsonl.gz"), jsonl(rows), true), N);
    expect(entries(forward)).toEqual([
      [4, "claude's view", "claude-3-5-haiku", ["apple things", "zebra things"]],
      [9, "scored high", "m2", ["scored low", "unscored"]],
    ]);
    // The choice does not depend on row order.
    const backward = readLabels(write(join(tempDir(), "batch-0.jsonl.gz"), jsonl([...rows].reverse()), true), N);
    expect(entries(backward)).toEqual(entries(forward));
  });

  it("a folder of explanation batches, or the export folder holding explanations/", () => {
    const root = tempDir();
    const row = (index: string, description: string) => ({ id: index, modelId: "m", layer: "l", index, description, typeName: "t", explanationModelName: "e" });
    write(join(root, "explanations", "batch-0.jsonl.gz"), jsonl([row("0", "zero"), row("1", "one")]), true);
    write(join(root, "explanations", "batch-1.jsonl.gz"), jsonl([row("1", "uno"), row("3", "three")]), true);
    write(join(root, "explanations", "notes.txt"), "ignored");
    for (const path of [root, join(root, "explanations")]) {
      const { labels, inputs } = loadLabels(path, N);
      expect(entries(labels).map(([id, l, , o]) => [id, l, o])).toEqual([[0, "zero", []], [1, "one", ["uno"]], [3, "three", []]]);
      expect(inputs.map((f) => f.name)).toEqual(
        path === root ? ["explanations/batch-0.jsonl.gz", "explanations/batch-1.jsonl.gz"] : ["batch-0.jsonl.gz", "batch-1.jsonl.gz"],
      );
      expect(inputs.every((f) => f.role === "labels" && /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
    }
  });

  it("trims, skips empty labels with a warning, and caps absurd lengths with an ellipsis", () => {
    const long = "x".repeat(2000);
    const warnings: string[] = [];
    const labels = readLabels(write(join(tempDir(), "labels.json"), JSON.stringify({ "1": "\n\t ok \n", "2": "   ", "3": long, "4": null })), N, {
      warn: (m) => warnings.push(m),
    });
    expect(labels.get(1)!.label).toBe("ok");
    expect(labels.has(2)).toBe(false);
    expect(labels.has(4)).toBe(false);
    expect(Array.from(labels.get(3)!.label)).toHaveLength(MAX_LABEL_CHARS);
    expect(labels.get(3)!.label.endsWith("x…")).toBe(true);
    expect(warnings).toEqual(["labels.json: 1 empty labels skipped, 1 labels longer than 500 characters cut, 1 rows without a label skipped"]);
  });

  it("keeps labels verbatim otherwise: markup is not escaped here", () => {
    const labels = readLabels(write(join(tempDir(), "labels.json"), JSON.stringify({ "0": "<script>alert(1)</script> & \"q\"" })), N);
    expect(labels.get(0)!.label).toBe("<script>alert(1)</script> & \"q\"");
  });

  it("caps by code points, never splitting a surrogate pair", () => {
    const clean = cleanLabel("😀".repeat(600))!;
    expect(clean.capped).toBe(true);
    expect(Array.from(clean.text)).toEqual([...Array<string>(MAX_LABEL_CHARS - 1).fill("😀"), "…"]);
  });
});

describe("feature-circuits annotations (real files)", () => {
  const dir = resolve(fixtures, "feature-circuits-annotations");

  it("needs a group when a file mixes dictionaries, and lists the groups", () => {
    expect(() => readLabels(join(dir, "pythia-70m-deduped.jsonl"), 32768, quiet)).toThrow(InputError);
    expect(() => readLabels(join(dir, "pythia-70m-deduped.jsonl"), 32768, quiet)).toThrow(
      /^pythia-70m-deduped\.jsonl: holds labels for 17 different dictionaries: resid_5 \(22\), attn_5 \(7\), .*embed \(60\).*; choose one, e\.g\. "pythia-70m-deduped\.jsonl#resid_5"$/,
    );
    expect(() => readLabels(join(dir, "pythia-70m-deduped.jsonl#resid_99"), 32768, quiet)).toThrow(/has no group "resid_99"; it has resid_5 \(22\)/);
  });

  it("reads one group, labelled by Annotation, matching the rows of the file", () => {
    const warnings: string[] = [];
    const labels = readLabels(join(dir, "pythia-70m-deduped.jsonl"), 32768, { select: "resid_2", warn: (m) => warnings.push(m) });
    // Independent count: distinct features of resid_2 rows with an annotation, by the Name field.
    const rows = readFileSync(join(dir, "pythia-70m-deduped.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, string>);
    const expected = new Map<number, string>();
    for (const r of rows) {
      const m = /^resid_2\/(\d+)$/.exec(r.Name ?? "");
      if (m && r.Annotation && !expected.has(Number(m[1]))) expected.set(Number(m[1]), r.Annotation.trim());
    }
    expect(labels.size).toBe(expected.size);
    for (const [id, label] of expected) expect(labels.get(id)!.label).toBe(label);
    expect(labels.get(1995)).toEqual({ label: "promotes female-associated words", source: "pythia-70m-deduped.jsonl", others: [] });
    expect(warnings).toEqual(["pythia-70m-deduped.jsonl: 1 header rows skipped"]);
  });

  it("takes the id from Name for rows that only have Name and Annotation", () => {
    // Lines 212+ of the Pythia file are {"Name": "embed/946", "Annotation": "'his'"} and the like.
    const labels = readLabels(join(dir, "pythia-70m-deduped.jsonl#embed"), 32768, quiet);
    expect(labels.get(946)!.label).toBe("'his'");
    expect(labels.size).toBe(60);
  });

  it("merges repeated annotations of a feature: first wins, differing ones kept as others", () => {
    const warnings: string[] = [];
    const labels = readLabels(join(dir, "gemma-2-2b.jsonl#resid_11"), 16384, { warn: (m) => warnings.push(m) });
    // resid_11/1570 is annotated on lines 26, 94, 170, 265 and 392 with two distinct texts.
    expect(labels.get(1570)).toEqual({ label: "plural nouns, often in PPs/RCs", source: "gemma-2-2b.jsonl", others: ["active throughout plural NPs"] });
    expect(warnings[0]).toMatch(/repeated annotations merged/);
  });

  it("skips rows without an annotation and counts them", () => {
    const warnings: string[] = [];
    const labels = readLabels(join(dir, "gemma-2-2b.jsonl#embed"), 16384, { warn: (m) => warnings.push(m) });
    // embed/1425 and embed/3734 are never annotated; embed/881 is, as "0".
    expect(labels.has(1425)).toBe(false);
    expect(labels.get(881)!.label).toBe("0");
    expect(warnings[0]).toMatch(/\d+ rows without an annotation skipped/);
  });

  it("checks ids against the dictionary width", () => {
    expect(() => readLabels(join(dir, "pythia-70m-deduped.jsonl#resid_2"), 4096, quiet)).toThrow(
      /^pythia-70m-deduped\.jsonl line \d+: feature id \d+ is outside the dictionary \(d_sae = 4096\); is this label file for another SAE width\?$/,
    );
  });
});

describe("label errors", () => {
  it("malformed JSON names the file", () => {
    const p = write(join(tempDir(), "labels.json"), '{"1": "a",, }');
    expect(() => readLabels(p, N)).toThrow(InputError);
    expect(() => readLabels(p, N)).toThrow(/^labels\.json: malformed JSON: /);
  });

  it("malformed JSONL names the line number", () => {
    const p = write(join(tempDir(), "labels.jsonl"), '{"index": 1, "label": "a"}\n\n{"index": 2, "label": "b"}\n{"index": 3, "label": oops}\n');
    expect(() => readLabels(p, N)).toThrow(/^labels\.jsonl line 4: malformed JSON: /);
  });

  it("malformed gzipped JSONL names the line number too", () => {
    const p = write(join(tempDir(), "batch-0.jsonl.gz"), '{"index": "1", "description": "a", "typeName": "t"}\n{"index": "2", "descr\n', true);
    expect(() => readLabels(p, N)).toThrow(/^batch-0\.jsonl\.gz line 2: malformed JSON: /);
  });

  it("broken gzip names the file", () => {
    const dir = tempDir();
    const good = write(join(dir, "ok.jsonl.gz"), jsonl([{ index: 1, label: "a" }]), true);
    const truncated = write(join(dir, "batch-3.jsonl.gz"), readFileSync(good).subarray(0, 15));
    expect(() => readLabels(truncated, N)).toThrow(/^batch-3\.jsonl\.gz: broken gzip data \(/);
    const notGzip = write(join(dir, "plain.jsonl.gz"), jsonl([{ index: 1, label: "a" }]));
    expect(() => readLabels(notGzip, N)).toThrow(/^plain\.jsonl\.gz: is named \.gz but is not gzip data/);
  });

  it("ids outside [0, nFeatures) name the id and the width", () => {
    const p = write(join(tempDir(), "labels.json"), JSON.stringify({ "0": "a", "24576": "b" }));
    expect(() => readLabels(p, 24576)).toThrow(
      new InputError("labels.json: feature id 24576 is outside the dictionary (d_sae = 24576); is this label file for another SAE width?"),
    );
    const q = write(join(tempDir(), "labels.jsonl"), jsonl([{ index: 0, label: "a" }, { index: -1, label: "b" }]));
    expect(() => readLabels(q, N)).toThrow(/^labels\.jsonl line 2: feature id -1 is outside the dictionary \(d_sae = 100\)/);
    const r = write(join(tempDir(), "labels.json"), JSON.stringify({ cat: "a" }));
    expect(() => readLabels(r, N)).toThrow(/^labels\.json: key "cat" is not a feature id/);
    const s = write(join(tempDir(), "labels.jsonl"), jsonl([{ index: 1.5, label: "a" }]));
    expect(() => readLabels(s, N)).toThrow(/^labels\.jsonl line 1: feature id 1\.5 is not an integer/);
  });

  it("duplicate ids name the id and both lines", () => {
    const p = write(join(tempDir(), "labels.jsonl"), jsonl([{ index: 5, label: "a" }, { index: 6, label: "b" }, { index: "5", label: "c" }]));
    expect(() => readLabels(p, N)).toThrow("labels.jsonl line 3: feature id 5 appears twice (first at labels.jsonl line 1); each feature may have one label per file");
    const csv = write(join(tempDir(), "labels.csv"), 'id,label\n1,"multi\nline"\n1,again\n');
    expect(() => readLabels(csv, N)).toThrow(/^labels\.csv line 4: feature id 1 appears twice \(first at labels\.csv line 2\)/);
    const arr = write(join(tempDir(), "labels.json"), JSON.stringify([{ id: 2, label: "a" }, { id: 2, label: "b" }]));
    expect(() => readLabels(arr, N)).toThrow(/^labels\.json item 1: feature id 2 appears twice \(first at labels\.json item 0\)/);
  });

  it("CSV without an id or label column names the header", () => {
    const p = write(join(tempDir(), "labels.csv"), "foo,label\n1,a\n");
    expect(() => readLabels(p, N)).toThrow(/^labels\.csv line 1: the header \("foo", "label"\) has no id column \(one of index, /);
    const q = write(join(tempDir(), "labels.csv"), 'id,"x"\n1,a\n');
    expect(() => readLabels(q, N)).toThrow(/has no label column \(one of label, description/);
    const u = write(join(tempDir(), "labels.csv"), 'id,label\n1,"never closed\n2,b\n');
    expect(() => readLabels(u, N)).toThrow(/^labels\.csv line 2: a quoted field is never closed/);
  });

  it("rows that are not label objects, labels that are not text, missing files and empty folders", () => {
    expect(() => readLabels(write(join(tempDir(), "l.jsonl"), "[1, 2]\n"), N)).toThrow(/^l\.jsonl line 1: expected a JSON object/);
    expect(() => readLabels(write(join(tempDir(), "l.jsonl"), jsonl([{ label: "no id" }])), N)).toThrow(/^l\.jsonl line 1: no feature id field/);
    expect(() => readLabels(write(join(tempDir(), "l.json"), JSON.stringify({ "1": 42 })), N)).toThrow(/the label of feature 1 is 42, not text/);
    expect(() => readLabels(join(tempDir(), "missing.json"), N)).toThrow(/^missing\.json: label file not found/);
    expect(() => readLabels(tempDir(), N)).toThrow(/is a folder, but holds no label batch files; looked for explanations\/batch-<n>\.jsonl\[\.gz\]/);
    expect(() => readLabels(write(join(tempDir(), "l.json"), JSON.stringify({ "1": "a" })) + "#resid_1", N)).toThrow(/a group was selected \("resid_1"\), but this is a plain/);
  });
});

describe("parseCsv", () => {
  it("reports the line each record starts on", () => {
    expect(parseCsv('a,b\n"x\ny",z\n\nlast,"q"', "t.csv")).toEqual([
      { fields: ["a", "b"], line: 1 },
      { fields: ["x\ny", "z"], line: 2 },
      { fields: ["last", "q"], line: 5 },
    ]);
  });
});
