/**
 * Weighted undirected graphs in compressed sparse rows, and Louvain community detection on them.
 *
 * Written here rather than taken from graphology-communities-louvain because the regions stage
 * must scale to 1M features: graphology keeps every edge as a JS object with string keys (several
 * hundred bytes per edge, ~15M edges at 1M × k=15), while CSR typed arrays cost 12 bytes per
 * directed edge. The algorithm is the standard one (Blondel et al. 2008) with a resolution γ:
 * local moving of nodes in a seeded random order (queue-based, see `moveNodes`), then aggregation of communities into nodes,
 * repeated until nothing moves. Determinism: the only random choice is the visiting order, drawn
 * from the rng passed in; ties between candidate communities keep the first seen in adjacency
 * order, and adjacency is sorted by node id.
 */
import { shuffle } from "../random.ts";

/**
 * A symmetric weighted graph: the neighbours of node i are `targets[offsets[i] … offsets[i+1])`
 * with `weights` alongside, sorted by target id. A self-loop (i, i) is stored once and holds the
 * weight inside an aggregated node, counted the way the degree counts it (both directions).
 */
export interface WeightedGraph {
  n: number;
  offsets: Int32Array;
  targets: Int32Array;
  weights: Float64Array;
}

/** Degree of every node: the sum of its row, self-loop included. */
export function degrees(g: WeightedGraph): Float64Array {
  const k = new Float64Array(g.n);
  for (let i = 0; i < g.n; i++) {
    let s = 0;
    for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) s += g.weights[e]!;
    k[i] = s;
  }
  return k;
}

/**
 * Build a symmetric CSR graph from directed weighted edges (a → b, w): both directions are added
 * and duplicate pairs summed, so a mutual kNN edge weighs twice a one-way one. Self edges are
 * dropped. O(E log deg).
 */
export function symmetricGraph(n: number, from: Int32Array, to: Int32Array, w: Float64Array, count: number): WeightedGraph {
  const deg = new Int32Array(n + 1);
  for (let e = 0; e < count; e++) {
    if (from[e] === to[e]) continue;
    deg[from[e]! + 1]!++;
    deg[to[e]! + 1]!++;
  }
  for (let i = 0; i < n; i++) deg[i + 1]! += deg[i]!;
  const fill = deg.slice(0, n);
  const rawT = new Int32Array(deg[n]!);
  const rawW = new Float64Array(deg[n]!);
  for (let e = 0; e < count; e++) {
    const a = from[e]!;
    const b = to[e]!;
    if (a === b) continue;
    rawT[fill[a]!] = b;
    rawW[fill[a]!++] = w[e]!;
    rawT[fill[b]!] = a;
    rawW[fill[b]!++] = w[e]!;
  }
  return compactRows(n, deg, rawT, rawW);
}

/**
 * Sort every row by target and sum duplicate targets. Each row's weights are summed into a dense
 * accumulator (in input order, so the sums are the ones a stable sort then a left-to-right sum
 * gives), and only its distinct targets are sorted, as a typed array. Array#sort with a
 * comparator over every entry was 1.4 s of the 65,536-feature regions stage; this is a fraction.
 */
function compactRows(n: number, offsets: Int32Array, rawT: Int32Array, rawW: Float64Array): WeightedGraph {
  const outOff = new Int32Array(n + 1);
  const outT = new Int32Array(rawT.length);
  const outW = new Float64Array(rawT.length);
  let span = 0;
  for (let e = 0; e < rawT.length; e++) if (rawT[e]! >= span) span = rawT[e]! + 1;
  const acc = new Float64Array(span);
  const stamp = new Int32Array(span).fill(-1);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const start = o;
    for (let e = offsets[i]!; e < offsets[i + 1]!; e++) {
      const t = rawT[e]!;
      if (stamp[t] !== i) {
        stamp[t] = i;
        acc[t] = 0;
        outT[o++] = t;
      }
      acc[t]! += rawW[e]!;
    }
    outT.subarray(start, o).sort();
    for (let e = start; e < o; e++) outW[e] = acc[outT[e]!]!;
    outOff[i + 1] = o;
  }
  return { n, offsets: outOff, targets: outT.slice(0, o), weights: outW.slice(0, o) };
}

/**
 * Collapse each community into one node. Edge (C, D) sums every A_ij with i in C, j in D; the
 * self-loop (C, C) sums the internal entries (each internal edge in both directions, plus the
 * members' own loops), so degrees and total weight are preserved and so is modularity.
 */
export function aggregate(g: WeightedGraph, community: Int32Array, count: number): WeightedGraph {
  const deg = new Int32Array(count + 1);
  for (let i = 0; i < g.n; i++) deg[community[i]! + 1]! += g.offsets[i + 1]! - g.offsets[i]!;
  for (let c = 0; c < count; c++) deg[c + 1]! += deg[c]!;
  const fill = deg.slice(0, count);
  const rawT = new Int32Array(g.targets.length);
  const rawW = new Float64Array(g.targets.length);
  for (let i = 0; i < g.n; i++) {
    const c = community[i]!;
    for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
      rawT[fill[c]!] = community[g.targets[e]!]!;
      rawW[fill[c]!++] = g.weights[e]!;
    }
  }
  return compactRows(count, deg, rawT, rawW);
}

/** The subgraph induced by `nodes` (sorted ids), renumbered 0 … nodes.length − 1. */
export function inducedSubgraph(g: WeightedGraph, nodes: ArrayLike<number>, scratch: Int32Array): WeightedGraph {
  const m = nodes.length;
  for (let c = 0; c < m; c++) scratch[nodes[c]!] = c;
  const offsets = new Int32Array(m + 1);
  const t: number[] = [];
  const w: number[] = [];
  for (let c = 0; c < m; c++) {
    const i = nodes[c]!;
    for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
      const j = scratch[g.targets[e]!]!;
      // `scratch` holds −1 outside the set; rows are sorted by old id, and old ids map to new ids
      // monotonically, so the new rows stay sorted.
      if (j >= 0) {
        t.push(j);
        w.push(g.weights[e]!);
      }
    }
    offsets[c + 1] = t.length;
  }
  for (let c = 0; c < m; c++) scratch[nodes[c]!] = -1;
  return { n: m, offsets, targets: Int32Array.from(t), weights: Float64Array.from(w) };
}

/** Renumber labels to 0 … count − 1 in order of first appearance by node id. */
export function renumber(labels: Int32Array): number {
  const map = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    let r = map.get(l);
    if (r === undefined) {
      r = map.size;
      map.set(l, r);
    }
    labels[i] = r;
  }
  return map.size;
}

export interface LouvainOptions {
  /** Resolution γ: higher gives more, smaller communities. */
  resolution: number;
  random: () => number;
  /** Node visits of local moving per aggregation level, in multiples of its node count, before giving up on convergence. Default 32. */
  maxPasses?: number;
}

/**
 * Louvain: returns the community of each node (0 … count − 1, numbered by first node) and the
 * count. Maximises Q = Σ_C [A_CC − γ k_C² / 2m] / 2m.
 */
export function louvain(g: WeightedGraph, opts: LouvainOptions): { community: Int32Array; count: number } {
  const n = g.n;
  const result = new Int32Array(n);
  for (let i = 0; i < n; i++) result[i] = i;
  if (n === 0) return { community: result, count: 0 };
  let level = g;
  for (;;) {
    const local = moveNodes(level, opts);
    const count = renumber(local);
    for (let i = 0; i < n; i++) result[i] = local[result[i]!]!;
    if (count === level.n) break;
    level = aggregate(level, local, count);
  }
  const count = renumber(result);
  return { community: result, count };
}

/**
 * One level of local moving. Returns the community of each node (not renumbered).
 *
 * A queue rather than full passes (the "fast local move" of Traag et al. 2019, Leiden): every node
 * is visited once in a seeded random order, and after that only the neighbours of a node that
 * moved, when they are outside its new community. Full passes until nothing moved gave the same
 * kind of partition but spent most of their time re-checking settled nodes: at 131,072 features
 * the first level took 11 passes, and the last seven moved under 1 % of the nodes between them.
 * A move must strictly improve the gain, so the queue empties; `maxPasses` × n visits bound it.
 */
function moveNodes(g: WeightedGraph, opts: LouvainOptions): Int32Array {
  const n = g.n;
  const k = degrees(g);
  let twoM = 0;
  for (let i = 0; i < n; i++) twoM += k[i]!;
  const community = new Int32Array(n);
  for (let i = 0; i < n; i++) community[i] = i;
  if (twoM === 0) return community;
  const tot = Float64Array.from(k);
  const gamma = opts.resolution / twoM;
  // A ring buffer of n slots holds the queue: a node is in it at most once (`queued`).
  const queue = new Int32Array(n);
  for (let i = 0; i < n; i++) queue[i] = i;
  shuffle(queue, opts.random);
  const queued = new Uint8Array(n).fill(1);
  let head = 0;
  let size = n;

  // Weight from the current node to each neighbouring community; `seen` lists which are set.
  const toComm = new Float64Array(n);
  const seen = new Int32Array(n);
  let budget = (opts.maxPasses ?? 32) * n;
  while (size > 0 && budget-- > 0) {
    const i = queue[head]!;
    head = head + 1 === n ? 0 : head + 1;
    size--;
    queued[i] = 0;
    const own = community[i]!;
    let nSeen = 0;
    for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
      const j = g.targets[e]!;
      if (j === i) continue;
      const c = community[j]!;
      if (toComm[c] === 0) seen[nSeen++] = c;
      toComm[c]! += g.weights[e]!;
    }
    const ki = k[i]!;
    tot[own]! -= ki;
    // Staying put is the baseline; a move must strictly improve on it.
    let best = own;
    let bestGain = toComm[own]! - gamma * ki * tot[own]!;
    for (let s = 0; s < nSeen; s++) {
      const c = seen[s]!;
      const gain = toComm[c]! - gamma * ki * tot[c]!;
      if (gain > bestGain + 1e-12 * Math.abs(bestGain)) {
        bestGain = gain;
        best = c;
      }
    }
    for (let s = 0; s < nSeen; s++) toComm[seen[s]!] = 0;
    toComm[own] = 0;
    tot[best]! += ki;
    if (best === own) continue;
    community[i] = best;
    for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
      const j = g.targets[e]!;
      if (queued[j] || community[j] === best || j === i) continue;
      queued[j] = 1;
      queue[(head + size) % n] = j;
      size++;
    }
  }
  return community;
}

/**
 * Split every community into its connected components within the community (Louvain can leave a
 * community held together only by nodes that later moved away). Returns the new count; labels are
 * renumbered.
 */
export function splitDisconnected(g: WeightedGraph, community: Int32Array): number {
  const n = g.n;
  const out = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  let next = 0;
  for (let s = 0; s < n; s++) {
    if (out[s] !== -1) continue;
    const c = community[s]!;
    out[s] = next;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
        const j = g.targets[e]!;
        if (out[j] === -1 && community[j] === c && g.weights[e]! > 0) {
          out[j] = next;
          stack.push(j);
        }
      }
    }
    next++;
  }
  community.set(out);
  return renumber(community);
}

/**
 * Merge every community smaller than `minSize` (counted in `size` units per node) into the
 * neighbouring community it shares the most edge weight with, relative to that community's
 * degree (so a tiny group joins the community it is most specifically tied to, not just the
 * biggest). Smallest first; repeated until no small community has an edge out, or until only
 * `floor` communities are left. Returns the new count; labels are renumbered.
 */
export function mergeSmall(g: WeightedGraph, community: Int32Array, count: number, size: ArrayLike<number>, minSize: number, floor = 1): number {
  const n = g.n;
  const k = degrees(g);
  for (let round = 0; round < 64; round++) {
    const csize = new Float64Array(count);
    const ctot = new Float64Array(count);
    for (let i = 0; i < n; i++) {
      csize[community[i]!]! += size[i]!;
      ctot[community[i]!]! += k[i]!;
    }
    const small: number[] = [];
    for (let c = 0; c < count; c++) if (csize[c]! < minSize) small.push(c);
    if (!small.length) return count;
    small.sort((a, b) => csize[a]! - csize[b]! || a - b);
    const members: number[][] = Array.from({ length: count }, () => []);
    for (let i = 0; i < n; i++) members[community[i]!]!.push(i);
    const target = new Int32Array(count);
    for (let c = 0; c < count; c++) target[c] = c;
    const find = (c: number): number => {
      while (target[c] !== c) c = target[c] = target[target[c]!]!;
      return c;
    };
    let merged = 0;
    for (const c of small) {
      if (count - merged <= floor) break;
      if (find(c) !== c || csize[c]! >= minSize) continue;
      const w = new Map<number, number>();
      for (const i of members[c]!) {
        for (let e = g.offsets[i]!; e < g.offsets[i + 1]!; e++) {
          const d = find(community[g.targets[e]!]!);
          if (d !== c) w.set(d, (w.get(d) ?? 0) + g.weights[e]!);
        }
      }
      let best = -1;
      let bestScore = 0;
      for (const [d, wd] of w) {
        const score = wd / Math.sqrt(ctot[d]!);
        if (score > bestScore || (score === bestScore && best !== -1 && d < best)) {
          best = d;
          bestScore = score;
        }
      }
      if (best < 0) continue;
      target[c] = best;
      csize[best]! += csize[c]!;
      ctot[best]! += ctot[c]!;
      merged++;
    }
    for (let i = 0; i < n; i++) community[i] = find(community[i]!);
    count = renumber(community);
    if (!merged) return count;
  }
  return count;
}
