/**
 * `atlas` command line: `npm run atlas -- build <dictionary> --out <dir> [options]`,
 * `npm run atlas -- inspect <path>` and `npm run atlas -- splits --atlas <dir>=<dictionary> …`.
 * Errors in the input end with a one-paragraph message and exit code 1, never a stack trace:
 * the message is the product here.
 */
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildAtlas, DEFAULTS } from "./build.ts";
import { detectDictionary, listDictionaries } from "./read/detect.ts";
import { formatInspectReport, inspectPath } from "./read/inspect.ts";
import { asResourceError } from "./resources.ts";
import { buildSite } from "./site.ts";
import { buildAllSplits, buildSplits, DEFAULT_SPLITS_K } from "./splits/build-splits.ts";
import { formatBytes } from "./log.ts";

const HELP = `Feature Atlas: turn a sparse-autoencoder dictionary into a browsable atlas.

Usage:
  npm run atlas -- build <dictionary> --out <dir> [options]
  npm run atlas -- build --config <site config> [--out <atlas root>] [--only <id>] [--skip-unchanged]
  npm run atlas -- inspect <dictionary> [--d-model <n>] [--json]
  npm run atlas -- splits --atlas <atlas dir>=<dictionary> --atlas <atlas dir>=<dictionary> … [options]

<dictionary> is one of:
  - a SAELens folder (cfg.json + sae_weights.safetensors [+ sparsity.safetensors]);
  - an EleutherAI sparsify hook-point folder (cfg.json + sae.safetensors);
  - a Gemma Scope params.npz, or the average_l0_<N> folder holding it;
  - a decoder matrix as .npy, or in an .npz (W_dec / decoder), either way round.
A folder of several (a sparsify checkpoint, a Gemma Scope tree) builds one atlas per hook
point, into <dir>/<id> with the id made from the hook point's folder (layers.10 → layers-10).
Labels (labels.json|jsonl|csv) and top activations (activations.json[.gz]) beside a
dictionary are used unless --labels / --activations name other files.

--config builds every atlas a site config lists (atlas.config.json is the demo's; the format is
contract/site.ts), one after another, into <atlas root>/<id> (default: the config's atlasRoot,
relative to the config file), and writes <atlas root>/site.json for the site's title.

inspect prints what a dictionary holds (format, tensors, sizes, hook point, metadata beside it,
problems) without building anything; it exits 1 only when a dictionary cannot be read.

splits matches every feature of two atlases of the same model and hook point at different
widths with its nearest features by decoder cosine in the other (exact search), and writes
<root>/splits/<small>--<large>/ for the site: "this feature splits into …" on feature pages and
the map. Each --atlas names an atlas folder and the dictionary it was built from (checked by the
weights' sha256). With more than two, every same-model/hook pair of different widths is done.
  --atlas <dir>=<dict>   an atlas and its dictionary (repeatable, at least two)
  --root <dir>           atlas root the pairs go under (default: the first atlas's parent folder)
  --k <n>                partners kept per feature and direction (default ${DEFAULT_SPLITS_K})
  --force                pair two atlases whose model or hook point differ or are unknown
  --threads <n>          threads for the search (default: all cores)

Options:
  --out <dir>            output atlas folder (required); swapped in atomically when complete
  --id <slug>            atlas id used in URLs (default: the output folder's name)
  --title <text>         title shown on the site
  --description <text>   one or two sentences for the home page and link previews
  --labels <file>        label file: JSON, JSONL, CSV or Neuronpedia explanations (repeatable)
  --activations <file>   SAEDashboard / Neuronpedia activation file or folder (repeatable)
  --neuronpedia <dir>    a Neuronpedia export folder (features/, explanations/, activations/):
                         labels from its explanations (best-scored wins, the others are kept),
                         density, logits and top examples from the rest
  --config <file>        build every atlas of a site config (see above)
  --only <id>            with --config: build only this atlas (repeatable)
  --skip-unchanged       with --config: skip atlases already built from the same inputs and options
  --d-model <n>          model width, to orient a bare .npy/.npz matrix (needed when it is square)
  --drop-nonfinite       keep decoder rows holding NaN/±Infinity as dead features (default: refuse)
  --cache-dir <dir>      where the kNN graph, layout and regions are cached between builds
                         (default: .atlas-cache beside the --out folder)
  --no-cache             neither read nor write the cache
  --k <n>                neighbours per feature in the kNN graph (default ${DEFAULTS.k})
  --seed <n>             seed of every random choice (default ${DEFAULTS.seed})
  --min-dist <x>         UMAP min_dist (default ${DEFAULTS.minDist})
  --epochs <n>           UMAP epochs (default: umap-js' choice for the size)
  --tile-capacity <n>    points per map tile (default ${DEFAULTS.tileCapacity})
  --shard-size <n>       features per feature shard (default ${DEFAULTS.shardSize})
  --recall-sample <n>    features sampled to measure kNN recall (default: 1000 up to 16,384 features, fewer above, at least 200)
  --knn-engine <name>    auto (default: HNSW up to 5,000 features, every pair up to 2^35 features² × d,
                         then the partitioned search), hnsw, exact or partitioned
  --json                 inspect: print the report as JSON
  --quiet                only warnings and errors
  -h, --help             this help
`;

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

class UsageError extends Error {}

const KNN_ENGINES = ["auto", "hnsw", "exact", "partitioned"] as const;

function knnEngineOption(v: string | undefined): (typeof KNN_ENGINES)[number] | undefined {
  if (v === undefined) return undefined;
  const found = KNN_ENGINES.find((e) => e === v);
  if (!found) throw new UsageError(`--knn-engine must be one of ${KNN_ENGINES.join(", ")}, got ${JSON.stringify(v)}`);
  return found;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      id: { type: "string" },
      title: { type: "string" },
      description: { type: "string" },
      labels: { type: "string", multiple: true },
      activations: { type: "string", multiple: true },
      neuronpedia: { type: "string" },
      config: { type: "string" },
      only: { type: "string", multiple: true },
      "skip-unchanged": { type: "boolean" },
      k: { type: "string" },
      seed: { type: "string" },
      "min-dist": { type: "string" },
      epochs: { type: "string" },
      "tile-capacity": { type: "string" },
      "shard-size": { type: "string" },
      "recall-sample": { type: "string" },
      "knn-engine": { type: "string" },
      "d-model": { type: "string" },
      "drop-nonfinite": { type: "boolean" },
      "cache-dir": { type: "string" },
      "no-cache": { type: "boolean" },
      json: { type: "boolean" },
      atlas: { type: "string", multiple: true },
      root: { type: "string" },
      force: { type: "boolean" },
      threads: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, dictionary] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 1;
  }
  const dModel = int("d-model", values["d-model"]);
  if (dModel === 0) throw new UsageError("--d-model must be a positive integer");
  if (command === "inspect") {
    if (!dictionary) throw new UsageError("inspect needs a path: npm run atlas -- inspect <dictionary>");
    const report = inspectPath(dictionary, dModel === undefined ? {} : { dModel });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspectReport(report)}\n`);
    return report.blocks.some((b) => b.error !== null) ? 1 : 0;
  }
  if (command === "splits") return runSplits(values);
  if (command !== "build") throw new UsageError(`unknown command ${JSON.stringify(command)}; try --help`);
  if (values["no-cache"] && values["cache-dir"] !== undefined) throw new UsageError("--no-cache and --cache-dir contradict each other; pass one");
  if (values.config !== undefined) {
    if (dictionary) throw new UsageError(`build --config takes no dictionary path (got ${JSON.stringify(dictionary)}); the config lists the dictionaries`);
    const perAtlas = ["id", "title", "description", "labels", "activations", "neuronpedia", "k", "seed", "min-dist", "epochs", "tile-capacity", "shard-size", "recall-sample", "knn-engine", "d-model", "drop-nonfinite"] as const;
    for (const flag of perAtlas) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} describes one atlas; with --config put it in the config's entry for that atlas`);
    }
    await buildSite(values.config, {
      ...(values.out === undefined ? {} : { out: values.out }),
      ...(values.only === undefined ? {} : { only: values.only }),
      skipUpToDate: values["skip-unchanged"] ?? false,
      ...(values["no-cache"] ? { cache: false as const } : values["cache-dir"] === undefined ? {} : { cache: values["cache-dir"] }),
      quiet: values.quiet ?? false,
    });
    return 0;
  }
  for (const flag of ["only", "skip-unchanged"] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --config`);
  }
  if (!dictionary) throw new UsageError("build needs a dictionary path: npm run atlas -- build <dictionary> --out <dir>");
  if (!values.out) throw new UsageError("build needs --out <dir>");
  const minDist = values["min-dist"] === undefined ? undefined : Number(values["min-dist"]);
  if (minDist !== undefined && !(minDist >= 0)) throw new UsageError(`--min-dist must be a number ≥ 0`);
  const common = {
    description: values.description,
    k: int("k", values.k),
    seed: int("seed", values.seed),
    minDist,
    epochs: int("epochs", values.epochs),
    tileCapacity: int("tile-capacity", values["tile-capacity"]),
    shardSize: int("shard-size", values["shard-size"]),
    recallSample: int("recall-sample", values["recall-sample"]),
    knnEngine: knnEngineOption(values["knn-engine"]),
    quiet: values.quiet ?? false,
    dModel,
    dropNonFinite: values["drop-nonfinite"] ?? false,
  };
  // For a checkpoint of several hook points the default cache sits beside their folders, in --out.
  const cache = values["no-cache"] ? (false as const) : values["cache-dir"];

  // A folder that is not itself a dictionary but holds several: one atlas per hook point.
  const inside = detectDictionary(dictionary) === null ? listDictionaries(dictionary) : [];
  if (inside.length > 0) {
    for (const flag of ["id", "title", "labels", "activations", "neuronpedia"] as const) {
      if (values[flag] !== undefined) {
        throw new UsageError(`--${flag} names one atlas, but ${dictionary} holds ${inside.length} dictionaries; build one of them, or put metadata files beside each`);
      }
    }
    const w = Math.max(...inside.map((d) => d.hookName.length));
    process.stderr.write(
      `${resolve(dictionary)} holds ${inside.length} ${inside.length === 1 ? "dictionary" : "dictionaries"}; building one atlas per hook point:\n` +
        inside.map((d) => `  ${d.hookName.padEnd(w)}  ${d.format.padEnd(11)} → ${join(values.out!, d.id)}\n`).join(""),
    );
    for (const [i, d] of inside.entries()) {
      if (!common.quiet) process.stderr.write(`\n=== ${i + 1}/${inside.length}: ${d.hookName} → ${d.id} ===\n`);
      try {
        await buildAtlas({ ...common, dictionary: d.path, out: join(values.out, d.id), id: d.id, ...(cache === undefined ? {} : { cache }) });
      } catch (e) {
        if (e instanceof Error) e.message = `${d.hookName}: ${e.message}`;
        throw e;
      }
    }
    process.stderr.write(`\nBuilt ${inside.length} atlases in ${resolve(values.out)}: ${inside.map((d) => d.id).join(", ")}\n`);
    return 0;
  }

  await buildAtlas({
    ...common,
    dictionary,
    out: values.out,
    id: values.id,
    title: values.title,
    labels: values.labels,
    activations: values.activations,
    neuronpedia: values.neuronpedia,
    ...(cache === undefined ? {} : { cache }),
  });
  return 0;
}

function runSplits(values: { atlas?: string[]; root?: string; k?: string; force?: boolean; threads?: string; quiet?: boolean; "shard-size"?: string }): number {
  const inputs = (values.atlas ?? []).map((spec) => {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--atlas ${JSON.stringify(spec)}: expected <atlas dir>=<dictionary>`);
    return { atlas: spec.slice(0, eq), dictionary: spec.slice(eq + 1) };
  });
  if (inputs.length < 2) throw new UsageError("splits needs at least two --atlas <atlas dir>=<dictionary>");
  const k = int("k", values.k);
  const threads = int("threads", values.threads);
  const shardSize = int("shard-size", values["shard-size"]);
  const root = values.root ?? dirname(resolve(inputs[0]!.atlas));
  const log = (m: string): void => {
    if (!values.quiet) process.stderr.write(`${m}\n`);
  };
  const opts = { root, log, ...(k === undefined ? {} : { k }), ...(threads === undefined ? {} : { threads }), ...(shardSize === undefined ? {} : { shardSize }) };
  const start = performance.now();
  const results = inputs.length === 2
    ? [buildSplits({ ...opts, a: inputs[0]!, b: inputs[1]!, force: values.force ?? false })]
    : buildAllSplits(inputs, opts);
  if (results.length === 0) {
    process.stderr.write(`none of the ${inputs.length} atlases share model, hook point and d_in at different widths; nothing to do\n`);
    return 0;
  }
  for (const r of results) {
    log(`[Splits] ${r.index.small.id} → ${r.index.large.id}: ${r.dir} (${formatBytes(r.bytes)}; exact search ${r.matchSeconds.toFixed(2)} s)`);
  }
  log(`  total ${((performance.now() - start) / 1000).toFixed(2)} s, peak RSS ${formatBytes(process.resourceUsage().maxRSS * 1024)}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error;
    // Input and usage problems are the user's to fix, and a full disk or exhausted memory the
    // machine's: the message says what and where. Anything else is our bug, so keep the stack.
    const resource = asResourceError(e, "building");
    if (resource) {
      process.stderr.write(`error: ${resource.message}\n`);
    } else if (e.name === "InputError" || e instanceof UsageError || String((e as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS_")) {
      process.stderr.write(`error: ${e.message}\n`);
    } else {
      process.stderr.write(`error: ${e.stack ?? e.message}\n`);
    }
    process.exit(1);
  },
);
