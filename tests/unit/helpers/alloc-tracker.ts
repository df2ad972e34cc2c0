/**
 * Records the largest single allocation a synchronous call asks for, so tests can assert that a
 * reader refuses a corrupt size before allocating it (a large typed array is zero-filled lazily,
 * so a wrong allocation can "succeed" and go unnoticed otherwise).
 *
 * Run `fn` with the typed-array, ArrayBuffer and Buffer allocators wrapped, returning the largest
 * single allocation it asked for (in bytes) along with its result or error. Node's internals use
 * their own captured constructors, so only allocations made by our code (and libraries) count.
 */
export function tracked(fn: () => unknown): { largest: number; error: unknown; ok: boolean } {
  const g = globalThis as unknown as Record<string, unknown>;
  let largest = 0;
  const note = (bytes: number) => {
    if (Number.isFinite(bytes) && bytes > largest) largest = bytes;
  };
  const typed = ["Float32Array", "Float64Array", "Uint8Array", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array"] as const;
  const saved = new Map<string, unknown>();
  for (const name of [...typed, "ArrayBuffer", "SharedArrayBuffer"]) {
    const Original = g[name] as { new (...a: unknown[]): unknown; BYTES_PER_ELEMENT?: number };
    saved.set(name, Original);
    const per = Original.BYTES_PER_ELEMENT ?? 1;
    g[name] = new Proxy(Original, {
      construct(target, args, newTarget) {
        if (typeof args[0] === "number") note(args[0] * per);
        return Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
      },
    });
  }
  const bufferFns = ["alloc", "allocUnsafe", "allocUnsafeSlow"] as const;
  const savedBuffer = bufferFns.map((k) => Buffer[k]);
  for (const [i, k] of bufferFns.entries()) {
    const original = savedBuffer[i]! as (size: number, ...rest: unknown[]) => Buffer;
    (Buffer as unknown as Record<string, unknown>)[k] = (size: number, ...rest: unknown[]) => {
      note(size);
      return original.call(Buffer, size, ...rest);
    };
  }
  try {
    fn();
    return { largest, error: null, ok: true };
  } catch (error) {
    return { largest, error, ok: false };
  } finally {
    for (const [name, v] of saved) g[name] = v;
    for (const [i, k] of bufferFns.entries()) (Buffer as unknown as Record<string, unknown>)[k] = savedBuffer[i];
  }
}
