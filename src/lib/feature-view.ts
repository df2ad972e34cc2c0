/**
 * How a feature's evidence is laid out on its page and in its embed: examples grouped by quantile,
 * token windows trimmed around the activating token, and tokens whose whitespace would otherwise
 * vanish. Pure functions, used at build time.
 */
import type { Example } from "../../contract/atlas.ts";
import { formatActivation } from "./format.ts";

export interface ExampleGroup {
  /** Null for the "top activations" group; otherwise the interval's heading. */
  title: string | null;
  /** [binMin, binMax] of the interval; null for the top group. */
  bin: [number, number] | null;
  examples: Example[];
}

/**
 * Consecutive examples with the same bin, in the stored order (top group first, then intervals
 * from high to low: see precompute/read/activations.ts sortExamples).
 */
export function groupExamples(examples: Example[]): ExampleGroup[] {
  const groups: ExampleGroup[] = [];
  for (const e of examples) {
    const last = groups.at(-1);
    const same = last && (last.bin === e.bin || (last.bin && e.bin && last.bin[0] === e.bin[0] && last.bin[1] === e.bin[1]));
    if (last && same) last.examples.push(e);
    else {
      groups.push({
        title: e.bin ? `Activations between ${formatActivation(e.bin[0])} and ${formatActivation(e.bin[1])}` : null,
        bin: e.bin,
        examples: [e],
      });
    }
  }
  return groups;
}

export interface TrimmedWindow {
  /** Index of the first kept token. */
  start: number;
  /** One past the last kept token. */
  end: number;
  /** Whether tokens were cut before `start` / after `end` (shown as an ellipsis). */
  cutBefore: boolean;
  cutAfter: boolean;
}

/**
 * The part of a window worth reading: `before` tokens of context before the activating token and
 * `after` tokens after it, so the token sits near the middle of a one- or two-line window. When
 * the window ends early on one side, the other side gets the spare tokens.
 */
export function trimWindow(example: Pick<Example, "tokens" | "maxIndex">, before = 12, after = 8): TrimmedWindow {
  const n = example.tokens.length;
  const peak = Math.min(Math.max(0, example.maxIndex), Math.max(0, n - 1));
  const total = before + after + 1;
  if (n <= total) return { start: 0, end: n, cutBefore: false, cutAfter: false };
  let start = peak - before;
  let end = peak + after + 1;
  if (start < 0) {
    end -= start;
    start = 0;
  }
  if (end > n) {
    start -= end - n;
    end = n;
  }
  return { start, end, cutBefore: start > 0, cutAfter: end < n };
}

/** A run of a token's text: visible characters, or whitespace drawn as a glyph. */
export interface TokenPart {
  text: string;
  /** Whitespace that would be invisible or collapse: shown as a muted glyph, read as nothing. */
  ws: boolean;
}

const NEWLINE = "↵";
const TAB = "⇥";
const SPACE = "·";

/**
 * Split a token for display. In a running window (`lone` false) spaces stay spaces — the text must
 * read as text, and a highlighted token's leading space shows as part of its highlight — while
 * newlines and tabs become ↵ and ⇥ so the window stays one block. A lone token (a logit, a
 * word in a list) also shows its spaces, as ·, because " the" and "the" are different tokens.
 */
export function tokenParts(token: string, lone = false): TokenPart[] {
  const parts: TokenPart[] = [];
  const push = (text: string, ws: boolean): void => {
    const last = parts.at(-1);
    if (last && last.ws === ws) last.text += text;
    else parts.push({ text, ws });
  };
  for (const ch of token.replace(/\r\n/g, "\n")) {
    if (ch === "\n") push(NEWLINE, true);
    else if (ch === "\t") push(TAB, true);
    else if (lone && ch === " ") push(SPACE, true);
    else push(ch, false);
  }
  // An empty token (GPT-2 splits some characters into several byte tokens) reads as nothing in a
  // window, but a lone empty token needs a mark to be seen at all.
  if (parts.length === 0 && lone) parts.push({ text: "∅", ws: true });
  return parts;
}

/** The token as plain text for an accessible name or a preview: whitespace spelled out only at the ends. */
export function tokenText(token: string): string {
  const t = token.replace(/\r?\n/g, "↵").replace(/\t/g, "⇥");
  return t.trim() === "" ? (t === "" ? "(empty)" : t.replace(/ /g, "·")) : t.trim();
}
