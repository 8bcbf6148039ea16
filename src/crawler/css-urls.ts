/**
 * Image references in CSS: `url(...)` in any property (background, border-image, list-style,
 * cursor, mask, content) and bare strings inside `image-set()`. Fonts and imported
 * stylesheets are not images and are left out: `@font-face` blocks and `@import` rules are
 * removed before scanning.
 */

const COMMENT = /\/\*[\s\S]*?\*\//g;
const FONT_FACE = /@font-face\s*\{[^}]*\}/gi;
const IMPORT = /@import\s+[^;]+;?/gi;
const URL_FN = /url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|((?:[^)\\\s]|\\[0-9a-fA-F]{1,6}\s?|\\.)*))\s*\)/gi;
const IMAGE_SET = /(?:-webkit-)?image-set\(((?:[^()]|\([^()]*\))*)\)/gi;
const QUOTED = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'/g;

export function extractCssUrls(css: string): string[] {
  const text = css.replace(COMMENT, ' ').replace(FONT_FACE, ' ').replace(IMPORT, ' ');
  const urls: string[] = [];
  for (const m of text.matchAll(URL_FN)) {
    const value = unescapeCss(m[1] ?? m[2] ?? m[3] ?? '');
    if (value) urls.push(value);
  }
  for (const m of text.matchAll(IMAGE_SET)) {
    // image-set("a.png" 1x, "b.png" 2x): plain strings are URLs too (url() ones were taken above).
    const inner = m[1].replace(URL_FN, ' ');
    for (const q of inner.matchAll(QUOTED)) {
      const value = unescapeCss(q[1] ?? q[2] ?? '');
      if (value) urls.push(value);
    }
  }
  return urls;
}

/** CSS escapes: `\"`, `\)`, and hex escapes like `\20 `. */
function unescapeCss(s: string): string {
  return s
    .replace(/\\([0-9a-fA-F]{1,6})\s?/g, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/\\(.)/g, '$1')
    .trim();
}

const IMPORT_TARGET = /@import\s+(?:url\(\s*)?(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s;)]+))/gi;

/** Stylesheets pulled in by `@import` (their images load too). */
export function extractCssImports(css: string): string[] {
  const text = css.replace(COMMENT, ' ');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_TARGET)) {
    const value = unescapeCss(m[1] ?? m[2] ?? m[3] ?? '');
    if (value) out.push(value);
  }
  return out;
}
