/**
 * Wall-time laps of a stage's phases on stderr, for benchmarks at sizes where a stage takes
 * minutes (docs/scale.md): on when FEATURE_ATLAS_PHASES names the stage ("knn", "refine",
 * "regions", comma-separated, or "1" for all), else a no-op that costs nothing.
 */
export function phaseTimer(what: string): (name: string, extra?: string) => void {
  if (!phasesOn(what)) return () => {};
  let lap = performance.now();
  return (name, extra = "") => {
    const now = performance.now();
    process.stderr.write(`${what} phase ${name}: ${((now - lap) / 1000).toFixed(1)} s${extra}\n`);
    lap = now;
  };
}

/** Whether FEATURE_ATLAS_PHASES asks for `what`'s phases (FEATURE_ATLAS_KNN_PHASES=1, its old name, asks for knn and refine). */
export function phasesOn(what: string): boolean {
  const asked = process.env["FEATURE_ATLAS_PHASES"] ?? "";
  if (asked === "1" || asked.split(",").includes(what)) return true;
  return process.env["FEATURE_ATLAS_KNN_PHASES"] === "1" && (what === "knn" || what === "refine");
}
