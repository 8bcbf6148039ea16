import { RE2JS } from 're2js';

/**
 * Include/exclude patterns of a crawl, from API callers and CLI flags, run on every link found.
 * They run on RE2 (re2js, a pure-JS port): matching takes time linear in the URL whatever the
 * pattern, where JavaScript's backtracking RegExp took 9.4 s for `^https?://[^/]+/(a+)+$` on one
 * link. RE2 has no backreferences or lookaround; such a pattern is refused up front with a clear
 * error. Search semantics, as RegExp#test: a pattern matches anywhere unless anchored.
 *
 * Linear in the URL, but with the size of the compiled pattern as its factor: `(.*a){1000}`
 * (one of RE2's largest, 5,000 instructions) took 0.25–0.8 s per 2,048-character link when its
 * states outgrew RE2's DFA cache, and a page holds up to 1,000 links. So the compiled size is
 * bounded when a crawl is requested (`invalidPattern`): MAX_PATTERN_SIZE instructions a pattern,
 * MAX_LIST_SIZE a list (ordinary patterns are 5–60 instructions, 50 of them fit; `(.*a){20}` is
 * 102). Within that a 2,048-character link is decided in about a millisecond once RE2's DFA has
 * its states; the first links, with both lists full of the worst patterns, took up to 0.3 s.
 * `compileUrlPattern` checks the syntax only, so that a session recorded before these bounds
 * still runs.
 */
export interface UrlPattern {
  readonly source: string;
  test(url: string): boolean;
}

export class InvalidPatternError extends Error {}

/** Compiled instructions allowed for one pattern. */
export const MAX_PATTERN_SIZE = 1000;
/** Compiled instructions allowed for one include (or exclude) list together. */
export const MAX_LIST_SIZE = 4000;

/** `(?=`, `(?!`, `(?<=`, `(?<!`, `\1`…`\9`, `\k<name>`: what RE2 cannot run (its own messages do not say so). */
const LOOKAROUND_OR_BACKREFERENCE = /\(\?<?[=!]|\\[1-9]|\\k</;

/** Compiles `source` for RE2, or throws an InvalidPatternError saying why not. Size unchecked: see `invalidPattern`. */
export function compileUrlPattern(source: string): UrlPattern {
  const re = compile(source);
  return { source, test: (url) => re.test(url) }; // test(): the DFA, no captures (find() asks for them)
}

/**
 * Validation of a requested list (a 400 of the API, an error of the CLI): the first pattern
 * that RE2 cannot run or that is too large, or the list too large together, as a message; null
 * when all can be used.
 */
export function invalidPattern(patterns: string[]): string | null {
  let total = 0;
  for (const p of patterns) {
    let size: number;
    try {
      size = compile(p).programSize();
    } catch (err) {
      return (err as Error).message;
    }
    if (size > MAX_PATTERN_SIZE) return `"${p}": too complex (${size} instructions compiled, at most ${MAX_PATTERN_SIZE}: patterns run on every link)`;
    total += size;
  }
  if (total > MAX_LIST_SIZE) {
    return `list: ${patterns.length} patterns together too complex (${total} instructions compiled, at most ${MAX_LIST_SIZE}: patterns run on every link)`;
  }
  return null;
}

/** RE2's own compilation; its messages made readable. */
function compile(source: string): RE2JS {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const reason = (err as Error).message.replace(/^error parsing regexp: /, '');
    const hint = LOOKAROUND_OR_BACKREFERENCE.test(source) ? ' (backreferences and lookaround are not supported: patterns run on a linear-time engine)' : '';
    throw new InvalidPatternError(`"${source}": ${reason}${hint}`);
  }
  return re;
}
