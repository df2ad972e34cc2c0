/**
 * The bounded max-heap both exact search and the partitioned search keep per query: keys are
 * distances (float32 in exact search, their order-preserving int32 encoding in the shared heaps of
 * the partitioned search), ties broken by id, the worst entry at slot 0. One sift for both, so the two
 * searches order ties identically (the graph must match exact search bit for bit).
 */

/** Replace the worst entry (slot 0) of the heap at `base` of `size` slots with (key, id) and sift it down. */
export function replaceWorst(ids: Int32Array, keys: Float32Array | Int32Array, base: number, size: number, key: number, id: number): void {
  let pos = 0;
  for (;;) {
    const l = 2 * pos + 1;
    if (l >= size) break;
    const r = l + 1;
    let c = l;
    if (r < size) {
      const kl = keys[base + l]!;
      const kr = keys[base + r]!;
      if (kr > kl || (kr === kl && ids[base + r]! > ids[base + l]!)) c = r;
    }
    const kc = keys[base + c]!;
    if (kc < key || (kc === key && ids[base + c]! < id)) break;
    keys[base + pos] = kc;
    ids[base + pos] = ids[base + c]!;
    pos = c;
  }
  keys[base + pos] = key;
  ids[base + pos] = id;
}
