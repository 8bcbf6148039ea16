import { expect } from 'chai';
import { TokenType, tokenizer } from '@csstools/css-tokenizer';
import { cssTokens, extractCssImports, extractCssUrls } from '../../src/crawler/css-urls';
import { parseSrcset } from '../../src/crawler/srcset';

describe('srcset parsing', () => {
  it('returns every candidate with x and w descriptors', () => {
    expect(parseSrcset('a.jpg 1x, b.jpg 2x')).to.deep.equal([
      { url: 'a.jpg', descriptor: '1x' },
      { url: 'b.jpg', descriptor: '2x' },
    ]);
    expect(parseSrcset(' small.jpg 480w,\n large.jpg  1080w ').map((c) => c.url)).to.deep.equal(['small.jpg', 'large.jpg']);
  });

  it('keeps commas inside URLs', () => {
    expect(parseSrcset('img.jpg?w=100,h=200 1x, img.jpg?w=200,h=400 2x').map((c) => c.url)).to.deep.equal([
      'img.jpg?w=100,h=200',
      'img.jpg?w=200,h=400',
    ]);
    expect(parseSrcset('https://cdn.com/c_fill,w_300/x.jpg 300w').map((c) => c.url)).to.deep.equal(['https://cdn.com/c_fill,w_300/x.jpg']);
  });

  it('handles candidates without descriptors and glued commas', () => {
    expect(parseSrcset('a.jpg')).to.deep.equal([{ url: 'a.jpg', descriptor: '' }]);
    // As in the standard: a URL ends at whitespace; only trailing commas end it early.
    expect(parseSrcset('a.jpg,, b.jpg 2x').map((c) => c.url)).to.deep.equal(['a.jpg', 'b.jpg']);
    expect(parseSrcset('a.jpg,b.jpg 2x').map((c) => c.url)).to.deep.equal(['a.jpg,b.jpg']);
    expect(parseSrcset('  ,, ')).to.deep.equal([]);
  });
});

describe('CSS image URLs', () => {
  it('finds url() in any quoting and image-set() strings', () => {
    const css = `
      .a { background: url(a.png) no-repeat; }
      .b { background-image: url("b.png"), url( 'c.png' ); }
      .c { background-image: image-set("d.png" 1x, url(e.png) 2x); }
      .d { list-style-image: url(f.gif); border-image: url(g.svg) 30; }`;
    expect(extractCssUrls(css).sort()).to.deep.equal(['a.png', 'b.png', 'c.png', 'd.png', 'e.png', 'f.gif', 'g.svg']);
  });

  it('ignores comments, fonts and @import', () => {
    const css = `/* url(commented.png) */ @import url(other.css); @font-face { src: url(font.woff2) } .x{background:url(real.png)}`;
    expect(extractCssUrls(css)).to.deep.equal(['real.png']);
    expect(extractCssImports(css)).to.deep.equal(['other.css']);
    expect(extractCssImports('@import "a.css"; @import url(\'b.css\') screen;')).to.deep.equal(['a.css', 'b.css']);
  });

  it('unescapes CSS escapes', () => {
    expect(extractCssUrls('.x{background:url("a\\"b.png")}')).to.deep.equal(['a"b.png']);
    expect(extractCssUrls('.x{background:url(my\\20 photo.png)}')).to.deep.equal(['my photo.png']);
  });
});

describe('CSS scanning stays linear on hostile input', () => {
  /** Fastest of three runs, in ms: a bound on the work, not on the machine's other load. */
  const fastest = (css: string, scan: (css: string) => unknown = extractCssUrls) => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      scan(css);
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  const MB = 1024 * 1024;
  const ordinary = (bytes: number) => '.a{background:image-set(url(a\\20 b.png) 1x, "c.png" 2x)} /* x */ @media (x){.b{c:url("d.png")}}\n'.repeat(bytes / 80);
  /**
   * Under 50 ms, or (on a slow or busy machine) no slower than 3 times a megabyte of ordinary
   * CSS measured now. Backtracking was not a constant factor: 30 escapes took minutes.
   */
  let bound = 50;
  before(() => {
    bound = Math.max(50, 3 * fastest(ordinary(MB)));
  });

  const catastrophic: [string, string][] = [
    ['an unclosed url( and 10,000 \\1 escapes', `a{background:url(${'\\1'.repeat(10_000)}`],
    ['100,000 nested image-set(', `a{b:${'image-set('.repeat(100_000)}`],
    ['1 MB of url(', 'url('.repeat(MB / 4)],
    ['an unterminated string of 1 MB', `a{b:url("${'x'.repeat(MB)}`],
    ['an unterminated comment of 1 MB', `/*${'*'.repeat(MB)}`],
    ['256 KB of url(" (quoted, unterminated)', 'url("'.repeat(MB / 20)],
    ['256 KB of /*', '/*'.repeat(MB / 8)],
    ['a bad url( of 256 KB', `a{b:url(a b${'\\)'.repeat(MB / 8)}`],
    ['256 KB of @import', '@import '.repeat(MB / 32)],
    ['256 KB of @font-face{', '@font-face{'.repeat(MB / 44)],
  ];

  for (const [name, css] of catastrophic) {
    it(`${name}: milliseconds`, () => {
      expect(fastest(css), name).to.be.below(bound);
      expect(fastest(css, extractCssImports), name).to.be.below(bound);
    });
  }

  it('takes time linear in the input', () => {
    const once = fastest(ordinary(MB / 4));
    const twice = fastest(ordinary(MB / 2));
    expect(twice, `${once.toFixed(2)} ms for N, ${twice.toFixed(2)} ms for 2N`).to.be.below(3 * once + 2);
  });

  it('an unclosed url( of escapes is one url token, to the end', () => {
    expect(extractCssUrls(`a{background:url(${'\\41'.repeat(10_000)}`)).to.deep.equal(['A'.repeat(10_000)]);
    expect(extractCssUrls(`a{background:url(${'\\1'.repeat(10_000)}`)).to.deep.equal([]); // control characters only: no URL
  });
});

describe('CSS read as a browser reads it', () => {
  it('keeps what the end of the input closes: a url, a string, a block', () => {
    expect(extractCssUrls('a{background:url(a.png')).to.deep.equal(['a.png']);
    expect(extractCssUrls('a{background:url(  a.png  ')).to.deep.equal(['a.png']);
    expect(extractCssUrls('a{background:url("a.png')).to.deep.equal(['a.png']);
    expect(extractCssUrls('a{background:image-set("a.png" 1x, "b.png')).to.deep.equal(['a.png', 'b.png']);
  });

  it('drops a bad url (quote, space or parenthesis inside) and reads on after its )', () => {
    expect(extractCssUrls('a{background:url(b"ad.png)} b{background:url(ok.png)}')).to.deep.equal(['ok.png']);
    expect(extractCssUrls('a{background:url(b ad.png)} b{background:url(ok.png)}')).to.deep.equal(['ok.png']);
    expect(extractCssUrls('a{background:url(b(ad.png)} b{background:url(ok.png)}')).to.deep.equal(['ok.png']);
    expect(extractCssUrls('a{background:url(b ad\\).png)} b{background:url(ok.png)}')).to.deep.equal(['ok.png']); // \) does not end it
  });

  it('ends a string at a newline (a bad string) and reads the next line', () => {
    expect(extractCssUrls('a{content:"broken\n} b{background:url(ok.png)}')).to.deep.equal(['ok.png']);
    expect(extractCssUrls('a{background:url("bro\nken.png")}')).to.deep.equal([]);
    expect(extractCssUrls('a{background:url("long\\\nline.png")}')).to.deep.equal(['longline.png']); // an escaped newline continues it
  });

  it('lets an unterminated comment swallow the rest', () => {
    expect(extractCssUrls('a{background:url(a.png)} /* b{background:url(b.png)}')).to.deep.equal(['a.png']);
    expect(extractCssUrls('a{background:url(/*a.png*/)}')).to.deep.equal(['/*a.png*/']); // no comments inside a url token
  });

  it('decodes escapes and knows url( however it is spelled', () => {
    expect(extractCssUrls('a{background:url(my\\)paren.png)}')).to.deep.equal(['my)paren.png']);
    expect(extractCssUrls('a{background:url(\\61\r\n.png)}')).to.deep.equal(['a.png']);
    expect(extractCssUrls('a{background:url("\\0 x.png")}')).to.deep.equal(['\uFFFDx.png']);
    expect(extractCssUrls('a{background:URL(up.png)} b{background:u\\72l(esc.png)}')).to.deep.equal(['up.png', 'esc.png']);
    expect(extractCssUrls('a{background:xurl(no.png) 1url(no.png) #url(no.png) -url(no.png)}')).to.deep.equal([]);
    expect(extractCssUrls('a{background:url( " spaced.png " )}')).to.deep.equal(['spaced.png']);
  });

  it('takes only the direct strings of image-set() as URLs', () => {
    expect(extractCssUrls('a{background:-webkit-image-set("a.avif" type("image/avif") 1x, url(b.png) 2x)}')).to.deep.equal(['a.avif', 'b.png']);
    expect(extractCssUrls('a{content:"not.png"} b{background:image-set({ ) "in-a-block.png" })}')).to.deep.equal([]);
    expect(extractCssUrls('a{background:url("a.png" "b.png")}')).to.deep.equal(['a.png']);
  });

  it('skips @font-face blocks wherever they are, and nothing after them', () => {
    expect(extractCssUrls('@media screen { @font-face { src: url(f.woff2) } .a{background:url(a.png)} }')).to.deep.equal(['a.png']);
    expect(extractCssUrls('@font-face { src: url(f.woff2); .x{background:url(f2.png)}')).to.deep.equal([]); // unclosed: to the end
    expect(extractCssUrls('.a{@font-face} .b{background:url(b.png)}')).to.deep.equal(['b.png']);
    expect(extractCssUrls('@FONT-FACE{src:url(f.woff)} .b{background:url(b.png)}')).to.deep.equal(['b.png']);
  });

  it('finds no image in an at-rule prelude, but finds them in its block', () => {
    const css = '@namespace svg url(http://www.w3.org/2000/svg); @supports (background: url(s.png)) { .a{background:url(a.png)} }';
    expect(extractCssUrls(css)).to.deep.equal(['a.png']);
  });

  it('follows @import only where a browser does: at the top, before any other rule', () => {
    expect(extractCssImports('@charset "utf-8"; @layer base, x; @import "a.css"; @import url(b.css) layer(x) supports(display: grid); @import url("c.css") screen;')).to.deep.equal([
      'a.css',
      'b.css',
      'c.css',
    ]);
    expect(extractCssImports('.a{} @import "late.css";')).to.deep.equal([]);
    expect(extractCssImports('@layer x {} @import "late.css";')).to.deep.equal([]);
    expect(extractCssImports('@media screen { @import "nested.css"; }')).to.deep.equal([]);
    expect(extractCssImports('@import screen url(x.css);')).to.deep.equal([]); // the target comes first
    expect(extractCssImports('@import "a.css";; @import "b.css";')).to.deep.equal(['a.css']); // the stray ; starts a (bad) style rule
    const stray = '@import {} .b{background:url(b.png)}';
    expect([extractCssImports(stray), extractCssUrls(stray)]).to.deep.equal([[], ['b.png']]);
  });

  it('tokenizes as @csstools/css-tokenizer does, on 5,000 random inputs', () => {
    const fragments = ['url(', 'URL(', 'u\\72l(', '"', "'", '\\', '\\29', '\\20 ', '\\0', '\\110000', '\\d800', '\\41\r\n', ')', '(', '{', '}', '[', ']', ';', ' ', '\n', '\r\n', '\r', '\f', '/*', '*/', 'a', 'x.png', '-', '--', '+', '.', '1', '2.5', 'e-3', '#', '@', '@import ', '@font-face', 'image-set(', '\0', 'é', '😀', '\x01', '\x7f', '<!--', '-->', '%', ',', ':', '\\\n', 'u', 'r', 'l', '\\)'];
    let seed = 11;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0; // mulberry32
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    for (let i = 0; i < 5_000; i++) {
      let css = '';
      for (let j = 1 + random(12); j > 0; j--) css += fragments[random(fragments.length)];
      expect(cssTokens(css), JSON.stringify(css)).to.deep.equal(referenceTokens(css));
    }
  });
});

/** @csstools/css-tokenizer's tokens in cssTokens' notation. */
function referenceTokens(css: string): string[] {
  const names: Partial<Record<TokenType, string>> = {
    [TokenType.String]: 'string',
    [TokenType.URL]: 'url',
    [TokenType.Function]: 'function',
    [TokenType.AtKeyword]: 'at-keyword',
    [TokenType.OpenParen]: '(',
    [TokenType.CloseParen]: ')',
    [TokenType.OpenSquare]: '[',
    [TokenType.CloseSquare]: ']',
    [TokenType.OpenCurly]: '{',
    [TokenType.CloseCurly]: '}',
    [TokenType.Semicolon]: ';',
    [TokenType.CDO]: 'CDO',
    [TokenType.CDC]: 'CDC',
  };
  const t = tokenizer({ css });
  const out: string[] = [];
  for (let token = t.nextToken(); token[0] !== TokenType.EOF; token = t.nextToken()) {
    if (token[0] === TokenType.Whitespace || token[0] === TokenType.Comment) continue;
    const kind = names[token[0]] ?? 'other';
    out.push(token[4]?.value !== undefined && kind !== 'other' && !'()[]{};'.includes(kind) ? `${kind}:${JSON.stringify(String(token[4].value))}` : kind);
  }
  return out;
}
