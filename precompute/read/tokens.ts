/**
 * GPT-2-style byte-level BPE prints tokens in a remapped alphabet: every byte that is not a
 * printable Latin-1 character is shown as U+0100 + n (space is `Ġ`, newline `Ċ`), and multi-byte
 * UTF-8 characters show as their bytes (`âĢľ` is the bytes E2 80 9C, a “). We map such tokens
 * back to text while keeping one string per token, so the alignment with activation values never
 * changes: bytes are UTF-8 decoded as a stream, and a character split over two tokens appears on
 * the token that completes it (the first shows whatever else it holds, possibly "").
 *
 * Exports come in two forms, and tokens of other tokenizers must pass through unchanged:
 *
 * - Pure byte-level: the window contains `Ġ` or `Ċ` and every character is in the byte alphabet.
 *   The whole window is decoded, provided its bytes are valid UTF-8.
 * - Partly decoded (the SAEDashboard fixtures): spaces and newlines are already text, some
 *   whole characters too ("—") but not all ("âĢ¦." for "…."), and pieces of characters split
 *   over tokens remain byte-level (" âĢ", "ľ"). There, each token is decoded on its own when it
 *   is complete UTF-8 that decodes to non-ASCII text (as for logit tokens, below), and runs of
 *   consecutive *fragment* tokens — byte-alphabet characters (plus plain whitespace) whose bytes
 *   are not valid UTF-8 on their own — are decoded together when the run's bytes are.
 *
 * A window of several tokens can be cut mid-character at either end; a run touching the edge
 * that shows byte-level evidence (U+0100–U+0143) may then begin or end with a partial
 * character, which decodes to U+FFFD. Characters of those code points that are real letters
 * (Polish ł, Czech č) only change when they form valid byte-level UTF-8 together with their
 * neighbours, which ordinary text in those languages does not.
 */

/** Code point → byte, the inverse of GPT-2's `bytes_to_unicode`. */
const CODE_TO_BYTE = new Map<number, number>();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    CODE_TO_BYTE.set(printable ? b : 0x100 + n++, b);
  }
}
/** Whitespace an exporter may already have decoded from `Ġ`, `Ċ`, `ĉ`, `č`. */
const PLAIN_WS = new Map<number, number>([[0x20, 0x20], [0x0a, 0x0a], [0x09, 0x09], [0x0d, 0x0d]]);

const REMAPPED = /[\u0100-\u0143]/;
const SPACE_OR_NEWLINE = /[\u0120\u010a]/;
const NON_ASCII = /[^\x00-\x7f]/;

/** The bytes a token spells in the byte alphabet; null when it holds any other character. */
function alphabetBytes(token: string, allowPlainWhitespace: boolean): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = CODE_TO_BYTE.get(c) ?? (allowPlainWhitespace ? PLAIN_WS.get(c) : undefined);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Valid UTF-8, optionally allowing a character cut off before the start or after the end. */
function isValidUtf8(bytes: Uint8Array, cutStart: boolean, cutEnd: boolean): boolean {
  let start = 0;
  if (cutStart) while (start < bytes.length && start < 3 && (bytes[start]! & 0xc0) === 0x80) start++;
  try {
    // In streaming mode an incomplete sequence at the end is held back rather than rejected.
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(start), { stream: cutEnd });
    return true;
  } catch {
    return false;
  }
}

function streamDecode(parts: Uint8Array[]): string[] {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const out = parts.map((p) => decoder.decode(p, { stream: true }));
  out[out.length - 1] += decoder.decode();
  return out;
}

function decodeWindow(tokens: string[]): string[] {
  if (!tokens.some((t) => REMAPPED.test(t))) return tokens;
  const canBeCut = tokens.length > 1;

  if (tokens.some((t) => SPACE_OR_NEWLINE.test(t))) {
    const parts = tokens.map((t) => alphabetBytes(t, false));
    if (parts.every((p) => p !== null) && isValidUtf8(concat(parts as Uint8Array[]), canBeCut, canBeCut)) {
      return streamDecode(parts as Uint8Array[]);
    }
  }

  const parts = tokens.map((t) => alphabetBytes(t, true));
  const fragment = parts.map((p, i) => p !== null && NON_ASCII.test(tokens[i]!) && !isValidUtf8(p, false, false));
  const out = [...tokens];
  for (let i = 0; i < tokens.length; ) {
    if (!fragment[i]) {
      out[i] = decodeLone(tokens[i]!);
      i++;
      continue;
    }
    let j = i;
    while (j < tokens.length && fragment[j]) j++;
    const run = parts.slice(i, j) as Uint8Array[];
    const evidence = tokens.slice(i, j).some((t) => REMAPPED.test(t));
    if (isValidUtf8(concat(run), canBeCut && i === 0 && evidence, canBeCut && j === tokens.length && evidence)) {
      out.splice(i, j - i, ...streamDecode(run));
    }
    i = j;
  }
  return out;
}

/**
 * A token on its own (a top-logit token): decoded when its bytes are complete UTF-8 and the
 * result is plainly byte-level text — it had `Ġ`/`Ċ`, or became a non-ASCII character.
 */
function decodeLone(token: string): string {
  if (!REMAPPED.test(token)) return token;
  const bytes = alphabetBytes(token, true);
  if (bytes === null || !isValidUtf8(bytes, false, false)) return token;
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  return SPACE_OR_NEWLINE.test(token) || NON_ASCII.test(text) ? text : token;
}

/**
 * Turn byte-level token strings back into text, one string per token. `window` is true for a
 * run of consecutive tokens (an example), false for unrelated tokens (a logit list).
 */
export function decodeTokens(tokens: string[], window = true): string[] {
  return window ? decodeWindow(tokens) : tokens.map(decodeLone);
}

/** Decode tokens that are not a window (a token list of top logits). */
export function decodeLoneTokens(tokens: string[]): string[] {
  return decodeTokens(tokens, false);
}
