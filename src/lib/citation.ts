/**
 * How to cite one feature: the dictionary it belongs to (model, hook point, architecture, width),
 * its index, and the atlas build that shows it (generator version and a short hash of the
 * weights, so a reader can tell whether two citations mean the same dictionary). Pure functions.
 */
import type { Manifest } from "../../contract/atlas.ts";
import { formatCount } from "./format.ts";

/** First 12 hex digits of the weights' sha256 (of the first input when no file has the role). */
export function inputsFingerprint(manifest: Pick<Manifest, "inputs">): string | null {
  const input = manifest.inputs.find((i) => i.role === "weights") ?? manifest.inputs[0];
  return input ? input.sha256.slice(0, 12) : null;
}

/** "gpt2-small · blocks.0.hook_resid_pre · standard SAE, 24,576 features (d_in 768)". */
export function describeDictionary(manifest: Pick<Manifest, "dictionary">): string {
  const d = manifest.dictionary;
  const arch = d.architecture === "topk" && d.k ? `TopK (k = ${d.k})` : d.architecture;
  const parts = [d.model ?? "unknown model", d.hookName ?? "unknown hook point", `${arch} SAE, ${formatCount(d.dSae)} features (d_in ${formatCount(d.dIn)})`];
  return parts.join(" · ");
}

export interface CiteInput {
  manifest: Pick<Manifest, "id" | "title" | "generator" | "dictionary" | "inputs">;
  id: number;
  label: string | null;
  /** Absolute URL of the feature page. */
  url: string;
}

export function citationText({ manifest, id, label, url }: CiteInput): string {
  const hash = inputsFingerprint(manifest);
  const np = manifest.dictionary.neuronpediaId ? ` Neuronpedia source ${manifest.dictionary.neuronpediaId}.` : "";
  return (
    `Feature ${id}${label ? ` (“${label}”)` : ""} of ${describeDictionary(manifest)}.${np} ` +
    `Feature Atlas “${manifest.title}”, built with ${manifest.generator}${hash ? ` from weights sha256:${hash}` : ""}. ${url}`
  );
}

/** Characters BibTeX treats specially, escaped so a label cannot break the entry. */
export function bibtexEscape(s: string): string {
  return s.replace(/[\\{}]/g, (c) => (c === "\\" ? "\\textbackslash{}" : `\\${c}`)).replace(/([&%$#_])/g, "\\$1").replace(/[~^]/g, (c) => `\\${c}{}`);
}

export function citationBibtex({ manifest, id, label, url }: CiteInput): string {
  const key = `${manifest.id.replace(/-/g, "_")}_feature_${id}`;
  const hash = inputsFingerprint(manifest);
  const title = `Feature ${id}${label ? `: ${label}` : ""}`;
  const note = [
    describeDictionary(manifest),
    manifest.dictionary.neuronpediaId ? `Neuronpedia ${manifest.dictionary.neuronpediaId}` : null,
    `atlas ${manifest.id} built with ${manifest.generator}${hash ? `, weights sha256 ${hash}` : ""}`,
  ]
    .filter(Boolean)
    .join("; ");
  return [
    `@misc{${key},`,
    `  title = {${bibtexEscape(title)}},`,
    `  howpublished = {\\url{${url}}},`,
    `  note = {${bibtexEscape(note)}},`,
    `}`,
  ].join("\n");
}

/** The `<iframe>` snippet that embeds a feature's card. */
export function embedSnippet(embedUrl: string, title: string): string {
  const t = title.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  return `<iframe src="${embedUrl}" title="${t}" width="480" height="420" style="border:0;max-width:100%" loading="lazy"></iframe>`;
}
