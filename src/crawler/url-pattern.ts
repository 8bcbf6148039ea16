import { RE2JS } from 're2js';

/**
 * Include/exclude patterns of a crawl, from API callers and CLI flags, run on every link found.
 * They run on RE2 (re2js, a pure-JS port): matching takes time linear in the URL whatever the
 * pattern, where JavaScript's backtracking RegExp took 9.4 s for `^https?://[^/]+/(a+)+$` on one
 * link. RE2 has no backreferences or lookaround; such a pattern is refused up front with a clear
 * error. Search semantics, as RegExp#test: a pattern matches anywhere unless anchored.
 */
export interface UrlPattern {
  readonly source: string;
  test(url: string): boolean;
}

export class InvalidPatternError extends Error {}

export function compileUrlPattern(source: string): UrlPattern {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const reason = (err as Error).message.replace(/^error parsing regexp: /, '');
    const hint = /invalid escape sequence: `\\\d|unsupported Perl syntax: `\(\?[=!<]/.test(reason)
      ? ' (backreferences and lookaround are not supported: patterns run on a linear-time engine)'
      : '';
    throw new InvalidPatternError(`"${source}": ${reason}${hint}`);
  }
  return { source, test: (url) => re.matcher(url).find() };
}

/** The first pattern that cannot be compiled, as a message, or null when all can. */
export function invalidPattern(patterns: string[]): string | null {
  for (const p of patterns) {
    try {
      compileUrlPattern(p);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return null;
}
