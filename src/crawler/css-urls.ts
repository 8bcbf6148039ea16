import { CSSToken, TokenType, tokenizer } from '@csstools/css-tokenizer';

/**
 * Image references in CSS: `url(...)` in any property (background, border-image, list-style,
 * cursor, mask, content) and bare strings inside `image-set()`. Fonts and imported stylesheets
 * are not images: `@font-face` blocks are skipped and `@import` targets are returned by
 * `extractCssImports` instead.
 *
 * On a CSS Syntax tokenizer (@csstools/css-tokenizer), not regular expressions: tokenizing is
 * linear in the input, where the backtracking `url()` pattern this replaces took minutes on an
 * unclosed `url(` followed by a run of escapes — on the event loop, freezing every job. Broken CSS
 * is read as a browser reads it: an unclosed `url(a.png` at the end is still a URL, a bad URL
 * (quote or space inside) is dropped, escapes are decoded by the tokenizer.
 */

export interface CssReferences {
  /** Image URLs as written (unresolved). */
  images: string[];
  /** Stylesheets pulled in by `@import` (their images load too). */
  imports: string[];
}

const IMAGE_SET = new Set(['image-set', '-webkit-image-set']);

export function scanCss(css: string): CssReferences {
  const images: string[] = [];
  const imports: string[] = [];
  const t = tokenizer({ css });
  /** Function nesting: names of the open functions (and '(' for plain parentheses). */
  const open: string[] = [];
  let importing = false; // after @import, until its target or `;`
  let fontFaceDepth = 0; // > 0 inside an @font-face block (its braces counted)
  let awaitingFontFaceBlock = false;
  let urlFunctionString = false; // inside url( with a quoted argument: the next string is the URL

  for (;;) {
    const token: CSSToken = t.nextToken();
    const type = token[0];
    if (type === TokenType.EOF) break;
    if (type === TokenType.Comment || type === TokenType.Whitespace) continue;

    if (awaitingFontFaceBlock || fontFaceDepth > 0) {
      if (type === TokenType.OpenCurly) {
        fontFaceDepth++;
        awaitingFontFaceBlock = false;
      } else if (type === TokenType.CloseCurly) fontFaceDepth--;
      else if (type === TokenType.Semicolon && awaitingFontFaceBlock) awaitingFontFaceBlock = false;
      continue;
    }

    switch (type) {
      case TokenType.AtKeyword: {
        const name = String(token[4].value).toLowerCase();
        if (name === 'font-face') awaitingFontFaceBlock = true;
        else if (name === 'import') importing = true;
        break;
      }
      case TokenType.URL: {
        const value = String(token[4].value).trim();
        if (value) (importing ? imports : images).push(value);
        importing = false;
        break;
      }
      case TokenType.Function: {
        const name = String(token[4].value).toLowerCase();
        open.push(name);
        urlFunctionString = name === 'url';
        break;
      }
      case TokenType.OpenParen:
        open.push('(');
        break;
      case TokenType.CloseParen:
        open.pop();
        urlFunctionString = false;
        break;
      case TokenType.String: {
        const value = String(token[4].value).trim();
        if (urlFunctionString || importing) {
          if (value) (importing ? imports : images).push(value);
          urlFunctionString = false;
          importing = false;
        } else if (value && IMAGE_SET.has(open[open.length - 1] ?? '')) {
          images.push(value); // image-set("a.png" 1x, "b.png" 2x): plain strings are URLs too
        }
        break;
      }
      case TokenType.Semicolon:
        importing = false;
        break;
      default:
        urlFunctionString = false;
    }
  }
  return { images, imports };
}

/** Image URLs referenced by `css`, as written. */
export function extractCssUrls(css: string): string[] {
  return scanCss(css).images;
}

/** Stylesheets pulled in by `@import` (their images load too). */
export function extractCssImports(css: string): string[] {
  return scanCss(css).imports;
}
