import { expect } from 'chai';
import { extractCssImports, extractCssUrls } from '../../src/crawler/css-urls';
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
  const timed = (css: string) => {
    const started = performance.now();
    const urls = extractCssUrls(css);
    return { urls, ms: performance.now() - started };
  };

  it('an unclosed url( followed by escapes (minutes on the old backtracking pattern) takes milliseconds', () => {
    for (const n of [30, 10_000]) {
      const { ms } = timed(`a{background:url(${'\\1'.repeat(n)}`);
      expect(ms, `${n} escapes`).to.be.below(200);
    }
  });

  it('deep nesting, a megabyte of url( and unterminated strings and comments take milliseconds', () => {
    for (const css of ['image-set('.repeat(50_000), 'url('.repeat(250_000), `a{b:"${'x'.repeat(500_000)}`, `/*${'*'.repeat(500_000)}`]) {
      expect(timed(css).ms, css.slice(0, 20)).to.be.below(500);
    }
  });

  it('reads broken CSS as a browser does', () => {
    expect(extractCssUrls('a{background:url(a.png')).to.deep.equal(['a.png']); // EOF closes the url token
    expect(extractCssUrls('a{background:url(b"ad.png)} b{background:url(ok.png)}')).to.deep.equal(['ok.png']); // a bad URL is dropped
    expect(extractCssUrls('a{background:url("unterminated.png')).to.deep.equal(['unterminated.png']);
  });
});
