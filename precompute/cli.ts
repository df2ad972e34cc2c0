/**
 * `atlas` command line: `npm run atlas -- build <dictionary> --out <dir> [options]`.
 * Errors in the input end with a one-paragraph message and exit code 1, never a stack trace:
 * the message is the product here.
 */
import { parseArgs } from "node:util";
import { buildAtlas, DEFAULTS } from "./build.ts";

const HELP = `Feature Atlas: turn a sparse-autoencoder dictionary into a browsable atlas.

Usage:
  npm run atlas -- build <dictionary> --out <dir> [options]

<dictionary> is a SAELens folder (cfg.json + sae_weights.safetensors [+ sparsity.safetensors]).
Labels (labels.json|jsonl|csv) and top activations (activations.json[.gz]) beside it are used
unless --labels / --activations name other files.

Options:
  --out <dir>            output atlas folder (required); swapped in atomically when complete
  --id <slug>            atlas id used in URLs (default: the output folder's name)
  --title <text>         title shown on the site
  --description <text>   one or two sentences for the home page and link previews
  --labels <file>        label file: JSON, JSONL, CSV or Neuronpedia explanations (repeatable)
  --activations <file>   SAEDashboard / Neuronpedia activation file or folder (repeatable)
  --k <n>                neighbours per feature in the kNN graph (default ${DEFAULTS.k})
  --seed <n>             seed of every random choice (default ${DEFAULTS.seed})
  --min-dist <x>         UMAP min_dist (default ${DEFAULTS.minDist})
  --epochs <n>           UMAP epochs (default: umap-js' choice for the size)
  --tile-capacity <n>    points per map tile (default ${DEFAULTS.tileCapacity})
  --shard-size <n>       features per feature shard (default ${DEFAULTS.shardSize})
  --recall-sample <n>    features sampled to measure kNN recall (default ${DEFAULTS.recallSample})
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
      k: { type: "string" },
      seed: { type: "string" },
      "min-dist": { type: "string" },
      epochs: { type: "string" },
      "tile-capacity": { type: "string" },
      "shard-size": { type: "string" },
      "recall-sample": { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, dictionary] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 1;
  }
  if (command !== "build") throw new UsageError(`unknown command ${JSON.stringify(command)}; try --help`);
  if (!dictionary) throw new UsageError("build needs a dictionary path: npm run atlas -- build <dictionary> --out <dir>");
  if (!values.out) throw new UsageError("build needs --out <dir>");
  const minDist = values["min-dist"] === undefined ? undefined : Number(values["min-dist"]);
  if (minDist !== undefined && !(minDist >= 0)) throw new UsageError(`--min-dist must be a number ≥ 0`);
  await buildAtlas({
    dictionary,
    out: values.out,
    id: values.id,
    title: values.title,
    description: values.description,
    labels: values.labels,
    activations: values.activations,
    k: int("k", values.k),
    seed: int("seed", values.seed),
    minDist,
    epochs: int("epochs", values.epochs),
    tileCapacity: int("tile-capacity", values["tile-capacity"]),
    shardSize: int("shard-size", values["shard-size"]),
    recallSample: int("recall-sample", values["recall-sample"]),
    quiet: values.quiet ?? false,
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error;
    // Input and usage problems are the user's to fix: the message says what and where. Anything
    // else is our bug, so keep the stack for the report.
    if (e.name === "InputError" || e instanceof UsageError || (e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      process.stderr.write(`error: ${e.message}\n`);
    } else {
      process.stderr.write(`error: ${e.stack ?? e.message}\n`);
    }
    process.exit(1);
  },
);
