/**
 * Image references in CSS: `url(...)` in any property (background, border-image, list-style,
 * cursor, mask, content) and bare strings inside `image-set()`. Fonts and imported stylesheets
 * are not images: `@font-face` blocks are skipped and `@import` targets are returned by
 * `extractCssImports` instead.
 *
 * Read as a browser reads CSS, in one pass linear in the input (a backtracking `url()` pattern
 * took minutes on an unclosed `url(` followed by a run of escapes, on the event loop):
 * - a tokenizer after CSS Syntax Level 3, §4 (the part that decides where url, string, function
 *   and at-keyword tokens begin and end, escapes decoded). Broken CSS as the standard says: an
 *   unclosed `url(a.png` at the end is still a URL, a bad URL (quote or space inside) is
 *   dropped, a string broken by a newline is no URL. Values are sliced from the input, never
 *   built a character at a time: 10 MB of one string costs one copy, not a rope of 10 M pieces
 *   (what @csstools/css-tokenizer builds: 3.5 s and 330 MB of heap for that input). The tests
 *   check this tokenizer against that one on random input;
 * - blocks followed as the parser nests them (a `)` closes only a `(` or a function, a `}` only
 *   a `{`), on an explicit stack: 100,000 nested functions cost no recursion.
 * Not images, as a browser sees them: anything in an at-rule's prelude (`@namespace url(…)`,
 * `@supports (background: url(…))`, `@import url(…)`) and `@font-face` blocks. An `@import` is
 * followed only where a browser honours it: at the top level, before every rule other than
 * `@charset`, `@layer a, b;` and other `@import`s, its target the first thing after it.
 */

export interface CssReferences {
  /** Image URLs as written (unresolved). */
  images: string[];
  /** Stylesheets pulled in by `@import` (their images load too). */
  imports: string[];
}

/** Image URLs referenced by `css`, as written. (Both lists of one stylesheet: `scanCss`, one pass.) */
export function extractCssUrls(css: string): string[] {
  return scanCss(css).images;
}

/** Stylesheets pulled in by `@import` (their images load too). */
export function extractCssImports(css: string): string[] {
  return scanCss(css).imports;
}

/** At-rules whose block holds no image a browser would load. */
const NO_IMAGE_BLOCK = new Set(['font-face', 'import', 'namespace', 'charset']);
/** Top-level at-rules that may precede `@import` (a `@layer` statement; a `@layer` block may not). */
const BEFORE_IMPORT = new Set(['charset', 'import', 'layer']);

/** The functions whose arguments matter; every other function and plain block is `Fn.None`. */
const enum Fn {
  None,
  Url,
  ImageSet,
}
function fnKind(name: string): Fn {
  const lower = asciiLower(name);
  if (lower === 'url') return Fn.Url;
  return lower === 'image-set' || lower === '-webkit-image-set' ? Fn.ImageSet : Fn.None;
}

/** The at-rule whose prelude is being read (everything up to its `;` or `{`). */
interface AtRule {
  name: string;
  /** Block depth of the at-keyword. */
  depth: number;
  /** A valid `@import` whose target (its first component) is still to come. */
  importTarget: boolean;
  /** Inside the `url(` function that is that target. */
  inImportUrl: boolean;
}

/** Image URLs and `@import` targets, in one pass. */
export function scanCss(css: string): CssReferences {
  const images: string[] = [];
  const imports: string[] = [];
  const lexer = new CssLexer(css);
  // The open `(`, `[`, `{` and functions, innermost last, as parallel arrays of numbers (no
  // object per block: 100,000 nested functions are 100,000 numbers): the token that closes
  // each, its function kind, whether a token was seen in it (only a string first in `url(`
  // is its URL).
  const closes: Tok[] = [];
  const fns: Fn[] = [];
  const seen: boolean[] = [];
  /** Index of the outermost open block that holds no images (an `@font-face` block), or -1. */
  let skipFrom = -1;
  let atRule: AtRule | null = null;
  let importsAllowed = true;
  const open = (close: Tok, fn: Fn, skip: boolean) => {
    if (skip && skipFrom < 0) skipFrom = closes.length;
    closes.push(close);
    fns.push(fn);
    seen.push(false);
  };

  for (;;) {
    const type = lexer.next();
    if (type === Tok.EOF) break;
    if (type === Tok.Whitespace || type === Tok.CDO || type === Tok.CDC) continue;
    const depth = closes.length;

    if (atRule === null && type === Tok.AtKeyword) {
      const name = asciiLower(lexer.value);
      const importTarget = depth === 0 && name === 'import' && importsAllowed;
      if (depth === 0 && !BEFORE_IMPORT.has(name)) importsAllowed = false;
      atRule = { name, depth, importTarget, inImportUrl: false };
      continue;
    }
    // Anything else at the top level outside an at-rule starts a style rule: no @import after it.
    if (atRule === null && depth === 0) importsAllowed = false;

    if (atRule !== null) {
      if (atRule.importTarget && depth === atRule.depth) {
        atRule.importTarget = false;
        if (type === Tok.URL || type === Tok.String) push(imports, lexer.value);
        else if (type === Tok.Function && fnKind(lexer.value) === Fn.Url) atRule.inImportUrl = true;
      } else if (atRule.inImportUrl && depth === atRule.depth + 1) {
        atRule.inImportUrl = false;
        if (type === Tok.String) push(imports, lexer.value);
      }
      if (depth === atRule.depth) {
        if (type === Tok.Semicolon) {
          atRule = null;
          continue;
        }
        if (type === Tok.OpenCurly) {
          if (depth === 0 && atRule.name === 'layer') importsAllowed = false;
          open(Tok.CloseCurly, Fn.None, NO_IMAGE_BLOCK.has(atRule.name));
          atRule = null;
          continue;
        }
      }
    } else if (skipFrom < 0) {
      if (type === Tok.URL) push(images, lexer.value);
      else if (type === Tok.String && depth > 0) {
        const fn = fns[depth - 1];
        if (fn === Fn.Url ? !seen[depth - 1] : fn === Fn.ImageSet) push(images, lexer.value); // image-set("a.png" 1x, …): strings are URLs
      }
    }
    if (depth > 0) seen[depth - 1] = true;

    switch (type) {
      case Tok.Function:
        open(Tok.CloseParen, fnKind(lexer.value), false);
        break;
      case Tok.OpenParen:
        open(Tok.CloseParen, Fn.None, false);
        break;
      case Tok.OpenSquare:
        open(Tok.CloseSquare, Fn.None, false);
        break;
      case Tok.OpenCurly:
        open(Tok.CloseCurly, Fn.None, false);
        break;
      case Tok.CloseParen:
      case Tok.CloseSquare:
      case Tok.CloseCurly:
        if (depth > 0 && closes[depth - 1] === type) {
          // A stray closer closes nothing, as in the CSS parser.
          closes.pop();
          fns.pop();
          seen.pop();
          if (skipFrom === depth - 1) skipFrom = -1;
        }
        if (atRule !== null && closes.length < atRule.depth) atRule = null; // the enclosing block ended the at-rule
        break;
    }
  }
  return { images, imports };
}

/** A url or string token's value, trimmed as the URL parser trims it; empty ones dropped. */
function push(out: string[], value: string): void {
  let start = 0;
  let end = value.length;
  // By hand: `\s+$` is quadratic on a long run of spaces followed by something else.
  while (start < end && value.charCodeAt(start) <= 0x20) start++;
  while (end > start && value.charCodeAt(end - 1) <= 0x20) end--;
  if (end > start) out.push(value.slice(start, end));
}

/** Function and at-rule names are ASCII case-insensitive (toLowerCase would fold the Kelvin sign to k). */
function asciiLower(s: string): string {
  return UPPER.test(s) ? s.replace(UPPER_ALL, (c) => String.fromCharCode(c.charCodeAt(0) + 32)) : s;
}
const UPPER = /[A-Z]/;
const UPPER_ALL = /[A-Z]/g;

// --- Tokenizer (CSS Syntax Level 3, §4.3), reduced to the token kinds the scan tells apart ---

/**
 * The token stream as the scan sees it, whitespace and comments left out: `kind` or
 * `kind:"value"` (JSON) for string, url, function and at-keyword tokens. For the test that
 * checks this tokenizer against @csstools/css-tokenizer on random input.
 */
export function cssTokens(css: string): string[] {
  const lexer = new CssLexer(css);
  const out: string[] = [];
  for (let type = lexer.next(); type !== Tok.EOF; type = lexer.next()) {
    if (type === Tok.Whitespace) continue;
    const kind = TOK_NAMES[type];
    out.push(type === Tok.String || type === Tok.URL || type === Tok.Function || type === Tok.AtKeyword ? `${kind}:${JSON.stringify(lexer.value)}` : kind);
  }
  return out;
}

/** Token kinds. Ident, hash, number, delim, colon, comma and bad string/url tokens are all `Other`. */
const enum Tok {
  EOF,
  Whitespace,
  String,
  URL,
  Function,
  AtKeyword,
  OpenParen,
  CloseParen,
  OpenSquare,
  CloseSquare,
  OpenCurly,
  CloseCurly,
  Semicolon,
  CDO,
  CDC,
  Other,
}
const TOK_NAMES = ['EOF', 'whitespace', 'string', 'url', 'function', 'at-keyword', '(', ')', '[', ']', '{', '}', ';', 'CDO', 'CDC', 'other'];

const TAB = 0x09;
const LF = 0x0a;
const FF = 0x0c;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const APOSTROPHE = 0x27;
const LPAREN = 0x28;
const RPAREN = 0x29;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const LESS = 0x3c;
const AT = 0x40;
const LSQUARE = 0x5b;
const BACKSLASH = 0x5c;
const RSQUARE = 0x5d;
const LCURLY = 0x7b;
const RCURLY = 0x7d;

/** CR, FF and CRLF are newlines too (the standard's preprocessing turns them into LF). */
function isNewline(c: number): boolean {
  return c === LF || c === CR || c === FF;
}
function isWhitespace(c: number): boolean {
  return c === SPACE || c === TAB || isNewline(c);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
/** Letters, `_`, non-ASCII, and NUL (which preprocessing turns into U+FFFD). NaN (end of input) is none. */
function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80 || c === 0;
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === MINUS;
}
/** Characters that make an unquoted url() bad. */
function isNonPrintable(c: number): boolean {
  return (c >= 0 && c <= 0x08) || c === 0x0b || (c >= 0x0e && c <= 0x1f) || c === 0x7f;
}

/**
 * Pulls tokens one at a time; `value` holds the decoded value of the last string, url,
 * function (its name), at-keyword (its name) token. Every step moves forward: linear.
 */
class CssLexer {
  private pos = 0;
  value = '';

  constructor(private readonly css: string) {}

  next(): Tok {
    const s = this.css;
    // Comments: to their `*/`, or to the end when unterminated.
    while (s.charCodeAt(this.pos) === SLASH && s.charCodeAt(this.pos + 1) === STAR) {
      const end = s.indexOf('*/', this.pos + 2);
      this.pos = end < 0 ? s.length : end + 2;
    }
    if (this.pos >= s.length) return Tok.EOF;
    const c = s.charCodeAt(this.pos);
    if (isWhitespace(c)) {
      do this.pos++;
      while (isWhitespace(s.charCodeAt(this.pos)));
      return Tok.Whitespace;
    }
    switch (c) {
      case QUOTE:
      case APOSTROPHE:
        return this.string(c);
      case HASH:
        if (isIdentChar(s.charCodeAt(this.pos + 1)) || this.validEscape(this.pos + 1)) {
          this.pos++;
          this.name();
        } else this.pos++;
        return Tok.Other;
      case LPAREN:
        this.pos++;
        return Tok.OpenParen;
      case RPAREN:
        this.pos++;
        return Tok.CloseParen;
      case LSQUARE:
        this.pos++;
        return Tok.OpenSquare;
      case RSQUARE:
        this.pos++;
        return Tok.CloseSquare;
      case LCURLY:
        this.pos++;
        return Tok.OpenCurly;
      case RCURLY:
        this.pos++;
        return Tok.CloseCurly;
      case SEMICOLON:
        this.pos++;
        return Tok.Semicolon;
      case PLUS:
      case DOT:
        if (this.startsNumber(this.pos)) return this.numeric();
        break;
      case MINUS:
        if (this.startsNumber(this.pos)) return this.numeric();
        if (s.startsWith('->', this.pos + 1)) {
          this.pos += 3;
          return Tok.CDC;
        }
        if (this.startsIdent(this.pos)) return this.identLike();
        break;
      case LESS:
        if (s.startsWith('!--', this.pos + 1)) {
          this.pos += 4;
          return Tok.CDO;
        }
        break;
      case AT:
        if (this.startsIdent(this.pos + 1)) {
          this.pos++;
          this.value = this.name();
          return Tok.AtKeyword;
        }
        break;
      case BACKSLASH:
        if (this.validEscape(this.pos)) return this.identLike();
        break;
      default:
        if (isDigit(c)) return this.numeric();
        if (isIdentStart(c)) return this.identLike();
    }
    this.pos++; // a delim: one ASCII character (non-ASCII starts an ident)
    return Tok.Other;
  }

  /** §4.3.8: a backslash not followed by a newline (at the end of input too). */
  private validEscape(i: number): boolean {
    return this.css.charCodeAt(i) === BACKSLASH && !isNewline(this.css.charCodeAt(i + 1));
  }

  /** §4.3.9 */
  private startsIdent(i: number): boolean {
    const c = this.css.charCodeAt(i);
    if (c === MINUS) {
      const c2 = this.css.charCodeAt(i + 1);
      return isIdentStart(c2) || c2 === MINUS || this.validEscape(i + 1);
    }
    return isIdentStart(c) || this.validEscape(i);
  }

  /** §4.3.10 */
  private startsNumber(i: number): boolean {
    const s = this.css;
    let c = s.charCodeAt(i);
    if (c === PLUS || c === MINUS) c = s.charCodeAt(++i);
    if (c === DOT) c = s.charCodeAt(i + 1);
    return isDigit(c);
  }

  /** §4.3.3 and §4.3.12: a number, then a unit or `%`. Only its extent matters here. */
  private numeric(): Tok {
    const s = this.css;
    if (s.charCodeAt(this.pos) === PLUS || s.charCodeAt(this.pos) === MINUS) this.pos++;
    while (isDigit(s.charCodeAt(this.pos))) this.pos++;
    if (s.charCodeAt(this.pos) === DOT && isDigit(s.charCodeAt(this.pos + 1))) {
      this.pos++;
      while (isDigit(s.charCodeAt(this.pos))) this.pos++;
    }
    const e = s.charCodeAt(this.pos) | 0x20;
    if (e === 0x65) {
      const sign = s.charCodeAt(this.pos + 1);
      const exponentAt = sign === PLUS || sign === MINUS ? this.pos + 2 : this.pos + 1;
      if (isDigit(s.charCodeAt(exponentAt))) {
        this.pos = exponentAt;
        while (isDigit(s.charCodeAt(this.pos))) this.pos++;
      }
    }
    if (this.startsIdent(this.pos)) this.name();
    else if (s.charCodeAt(this.pos) === 0x25) this.pos++;
    return Tok.Other;
  }

  /** §4.3.4: an ident, a function, or `url(` — a url token unless a quoted string follows. */
  private identLike(): Tok {
    const s = this.css;
    const name = this.name();
    if (s.charCodeAt(this.pos) !== LPAREN) return Tok.Other;
    this.pos++;
    this.value = name;
    if (name.length !== 3 || asciiLower(name) !== 'url') return Tok.Function;
    while (isWhitespace(s.charCodeAt(this.pos)) && isWhitespace(s.charCodeAt(this.pos + 1))) this.pos++;
    const c = s.charCodeAt(this.pos);
    const quoteAt = isWhitespace(c) ? s.charCodeAt(this.pos + 1) : c;
    if (quoteAt === QUOTE || quoteAt === APOSTROPHE) return Tok.Function;
    return this.url();
  }

  /** §4.3.11: an ident sequence, escapes decoded. */
  private name(): string {
    const s = this.css;
    let out = '';
    let start = this.pos;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (isIdentChar(c)) this.pos++;
      else if (this.validEscape(this.pos)) {
        out += s.slice(start, this.pos);
        this.pos++;
        out += this.escape();
        start = this.pos;
      } else return nulToReplacement(out + s.slice(start, this.pos));
    }
  }

  /** §4.3.7, after the backslash: up to 6 hex digits and one whitespace, or the next character. */
  private escape(): string {
    const s = this.css;
    if (this.pos >= s.length) return '\uFFFD';
    if (!isHex(s.charCodeAt(this.pos))) return s[this.pos++];
    const start = this.pos;
    while (this.pos - start < 6 && isHex(s.charCodeAt(this.pos))) this.pos++;
    const cp = parseInt(s.slice(start, this.pos), 16);
    const ws = s.charCodeAt(this.pos);
    if (ws === CR && s.charCodeAt(this.pos + 1) === LF) this.pos += 2;
    else if (isWhitespace(ws)) this.pos++;
    return cp === 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ? '\uFFFD' : String.fromCodePoint(cp);
  }

  /** §4.3.5: a string token, or a bad one (`Other`) when a newline breaks it. */
  private string(quote: number): Tok {
    const s = this.css;
    let out = '';
    let start = ++this.pos;
    for (;;) {
      if (this.pos >= s.length) break; // unterminated at the end: still a string
      const c = s.charCodeAt(this.pos);
      if (c === quote) {
        out += s.slice(start, this.pos++);
        this.value = nulToReplacement(out);
        return Tok.String;
      }
      if (isNewline(c)) return Tok.Other; // the newline is left for the next token
      if (c !== BACKSLASH) {
        this.pos++;
        continue;
      }
      out += s.slice(start, this.pos++);
      const next = s.charCodeAt(this.pos);
      if (next === CR && s.charCodeAt(this.pos + 1) === LF) this.pos += 2; // an escaped newline continues the line
      else if (isNewline(next)) this.pos++;
      else if (this.pos < s.length) out += this.escape();
      start = this.pos;
    }
    this.value = nulToReplacement(out + s.slice(start));
    return Tok.String;
  }

  /** §4.3.6, after `url(`: an unquoted URL, or a bad one (`Other`). */
  private url(): Tok {
    const s = this.css;
    while (isWhitespace(s.charCodeAt(this.pos))) this.pos++;
    let out = '';
    let start = this.pos;
    for (;;) {
      if (this.pos >= s.length) break; // unclosed at the end: still a URL
      const c = s.charCodeAt(this.pos);
      if (c === RPAREN) {
        out += s.slice(start, this.pos++);
        this.value = nulToReplacement(out);
        return Tok.URL;
      }
      if (isWhitespace(c)) {
        out += s.slice(start, this.pos);
        while (isWhitespace(s.charCodeAt(this.pos))) this.pos++;
        if (this.pos >= s.length || s.charCodeAt(this.pos) === RPAREN) {
          this.pos++;
          this.value = nulToReplacement(out);
          return Tok.URL;
        }
        return this.badUrl();
      }
      if (c === QUOTE || c === APOSTROPHE || c === LPAREN || isNonPrintable(c)) return this.badUrl();
      if (c === BACKSLASH) {
        if (!this.validEscape(this.pos)) return this.badUrl();
        out += s.slice(start, this.pos++);
        out += this.escape();
        start = this.pos;
        continue;
      }
      this.pos++;
    }
    this.value = nulToReplacement(out + s.slice(start));
    return Tok.URL;
  }

  /** §4.3.14: the rest of a bad URL, up to a `)` that is not escaped. */
  private badUrl(): Tok {
    const s = this.css;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === RPAREN) {
        this.pos++;
        break;
      }
      if (this.validEscape(this.pos)) {
        this.pos++;
        this.escape();
      } else this.pos++;
    }
    return Tok.Other;
  }
}

/** NUL reads as U+FFFD (the standard's preprocessing), without a copy when there is none. */
function nulToReplacement(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}
