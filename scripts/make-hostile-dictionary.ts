/**
 * A small dictionary whose labels, tokens and region names are hostile text, to prove the site
 * shows untrusted strings verbatim and never runs them: markup and event handlers,
 * `javascript:` URLs, broken markup, template syntax, bidi overrides, zero-width and control
 * characters, 10k-character strings, emoji ZWJ sequences and lone UTF-16 surrogates.
 *
 *   npx tsx scripts/make-hostile-dictionary.ts [--out data/hostile]
 *
 * writes a SAELens folder (64 seeded synthetic features × 16, two of them dead), `labels.json`,
 * a SAEDashboard-shaped `activations.json` whose tokens and logits are hostile, and
 * `regions.names.json` naming regions with hostile text. The e2e setup builds it as the atlas
 * `hostile`. The output is deterministic, so the committed copy in data/hostile/ can be checked
 * against this script.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { syntheticDictionary, writeSaeLensFolder } from "./synthetic-dictionary.ts";

export const HOSTILE_ID = "hostile";
/** The atlas description the e2e build passes (its title comes from the hostile model name in cfg.json). */
export const HOSTILE_DESCRIPTION = `<script>alert("description")</script> & "quotes" \u202Eand an override`;
export const HOSTILE_FEATURES = 64;
const D = 16;
/** Features with an all-zero decoder row, so dead features meet hostile text too. */
export const HOSTILE_DEAD = [40, 41];

/** Strings a label, token or name could carry that a careless page would execute or mangle. */
export const HOSTILE_STRINGS: readonly string[] = [
  `<img src=x onerror=alert(1)>`,
  `<script>alert(1)</script>`,
  `"><svg onload=alert(1)>`,
  `javascript:alert(1)`,
  `<a href="javascript:alert(1)">click me</a>`,
  `</title><h1>broken title</h1>`,
  `<!-- an unclosed comment`,
  `</script><script>alert(document.domain)</script>`,
  `{{ constructor.constructor('alert(1)')() }}`,
  "${alert(1)} `backticks`",
  `'; alert(1); //`,
  `</style><style>body{display:none}</style>`,
  `&lt;already escaped&gt; &amp; &#x3C;b&#x3E; entities`,
  `%3Cscript%3Ealert(1)%3C/script%3E`,
  `**bold** [link](javascript:alert(1)) _md_`,
  `regex .*+?^\${}()|[]\\ specials`,
  `\u202Egnp.exe\u202C right-to-left override`,
  `zero\u200Bwidth\u200Cnon\u200Djoiner\u2060word\uFEFFjoiner`,
  `\u200B`,
  `👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇺🇦 pair`,
  `lone \uD800 high and \uDFFF low surrogates`,
  `tab\there, bell\u0007, nul\u0000 and escape\u001B[31m controls`,
  `Z̷̢͎a̵̛͚l̸͕̓g̷̪̈o̴̰͝ combining marks`,
  `__proto__`,
  `constructor`,
  `-1`,
  `42`,
  `<b>long</b> `.repeat(1000),
  `x`.repeat(10_000),
  `مرحبا بالعالم — עברית mixed with English`,
];

/** Tokens for the activation examples and logits. */
export const HOSTILE_TOKENS: readonly string[] = [
  `<script>`,
  `alert(1)`,
  `</script>`,
  `Ġ<img src=x onerror=alert(1)>`,
  `"><svg/onload=alert(1)>`,
  `javascript:`,
  `&amp;`,
  `\u202E`,
  `\u200B`,
  `\uDC00`,
  `👩‍👩‍👧‍👦`,
  `{{x}}`,
  `Ċ`,
  ``,
  `y`.repeat(300),
];

/** The label of feature `i`, or null for a few unlabelled ones. */
export function hostileLabel(i: number): string | null {
  if (i % 16 === 15) return null;
  const s = HOSTILE_STRINGS[i % HOSTILE_STRINGS.length]!;
  // Past the first round the strings repeat; a suffix keeps labels distinct for search.
  return i < HOSTILE_STRINGS.length ? s : `${s} #${i}`;
}

function activations(): unknown {
  const t = HOSTILE_TOKENS;
  const features = [];
  for (let i = 0; i < HOSTILE_FEATURES; i += 3) {
    const window = [0, 1, 2, 3].map((k) => t[(i + k) % t.length]!);
    features.push({
      feature_index: i,
      frac_nonzero: 0.001 * (1 + (i % 7)),
      pos_str: [t[i % t.length]!, t[(i + 5) % t.length]!],
      pos_values: [1.5, 0.75],
      neg_str: [t[(i + 9) % t.length]!],
      neg_values: [-1.25],
      activations: [
        { bin_min: -1, bin_max: 4, bin_contains: -1, tokens: window, values: [0.5, 4, 1, 0], qualifying_token_index: 1 },
        { bin_min: 0, bin_max: 1, bin_contains: 0.5, tokens: [t[(i + 2) % t.length]!], values: [0.9], qualifying_token_index: 0 },
      ],
    });
  }
  return { model_id: "hostile<model>", layer: 0, sae_set: `"sae"<set>`, features };
}

/** Write the dictionary and its metadata into `dir`. */
export function writeHostileDictionary(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const dict = syntheticDictionary({ n: HOSTILE_FEATURES, d: D, clusters: 4, duplicates: 0, seed: 13 });
  for (const i of HOSTILE_DEAD) dict.decoder.fill(0, i * D, (i + 1) * D);
  writeSaeLensFolder(dir, dict, {
    metadata: { model_name: `<script>alert("model")</script>`, hook_name: `"><img src=x onerror=alert("hook")>` },
  });
  const labels: Record<string, string> = {};
  for (let i = 0; i < HOSTILE_FEATURES; i++) {
    const l = hostileLabel(i);
    if (l !== null) labels[i] = l;
  }
  // JSON.stringify writes lone surrogates as \ud800 escapes, as a Python exporter would.
  writeFileSync(join(dir, "labels.json"), JSON.stringify(labels, null, 1) + "\n");
  writeFileSync(join(dir, "activations.json"), JSON.stringify(activations()) + "\n");
  // Hand-written region names, anchored on two live members of a planted cluster each (the
  // smallest region holding both gets the name).
  const anchors = (c: number) => {
    const ids: number[] = [];
    for (let i = 0; i < HOSTILE_FEATURES && ids.length < 2; i++) if (dict.cluster[i] === c && !HOSTILE_DEAD.includes(i)) ids.push(i);
    return ids;
  };
  const names = {
    version: 1,
    regions: [
      { name: `<img src=x onerror=alert("region")>`, anchors: anchors(0) },
      { name: `</title><script>alert("region")</script>`, anchors: anchors(1) },
      { name: `\u202Eright-to-left region 👩‍👩‍👧‍👦`, anchors: anchors(2) },
    ],
  };
  writeFileSync(join(dir, "regions.names.json"), JSON.stringify(names, null, 1) + "\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string", default: resolve(import.meta.dirname, "..", "data", "hostile") } } });
  writeHostileDictionary(values.out!);
  process.stderr.write(`wrote the hostile dictionary to ${values.out}\n`);
}
