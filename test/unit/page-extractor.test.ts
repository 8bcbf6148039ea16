import { expect } from 'chai';
import { extractPage } from '../../src/crawler/page-extractor';

const PAGE = 'http://site.test/dir/page.html';

function images(html: string, opts = {}) {
  return extractPage(html, PAGE, opts).images.map((i) => i.url);
}

describe('page extraction: images a browser would load', () => {
  it('finds <img src> and every srcset candidate (x and w)', () => {
    const html = '<img src="a.png" srcset="a-1x.png 1x, a-2x.png 2x"><img src="b.png" srcset="b-480.png 480w, b-960.png 960w" sizes="50vw">';
    expect(images(html)).to.have.members(['a.png', 'a-1x.png', 'a-2x.png', 'b.png', 'b-480.png', 'b-960.png'].map((p) => `http://site.test/dir/${p}`));
  });

  it('finds <picture><source srcset> but not <video><source src>', () => {
    const html = '<picture><source srcset="p.webp" type="image/webp"><source srcset="p.avif 1x, p2.avif 2x"><img src="p.jpg"></picture><video><source src="movie.mp4"></video>';
    expect(images(html)).to.have.members(['p.webp', 'p.avif', 'p2.avif', 'p.jpg'].map((p) => `http://site.test/dir/${p}`));
  });

  it('finds lazy-loading attributes of the common libraries', () => {
    const html = `
      <img src="placeholder.gif" data-src="lazy1.jpg">
      <img data-srcset="lazy2.jpg 1x, lazy3.jpg 2x">
      <img data-lazy-src="lazy4.jpg" data-original="lazy5.jpg" data-echo="lazy6.jpg">
      <picture><source data-srcset="lazy7.webp"></picture>
      <div data-bg="bg1.jpg"></div><div data-background-image="url('bg2.jpg')"></div>
      <div class="lazy" data-src="/gallery/div.png"></div>
      <iframe data-src="/frame.html"></iframe>`;
    const found = images(html);
    for (const p of ['placeholder.gif', 'lazy1.jpg', 'lazy2.jpg', 'lazy3.jpg', 'lazy4.jpg', 'lazy5.jpg', 'lazy6.jpg', 'lazy7.webp', 'bg1.jpg', 'bg2.jpg']) {
      expect(found, p).to.include(`http://site.test/dir/${p}`);
    }
    expect(found).to.include('http://site.test/gallery/div.png');
    expect(found).not.to.include('http://site.test/frame.html');
  });

  it('finds CSS backgrounds in style attributes and <style> blocks', () => {
    const html = `<style>.hero{background:url(hero.jpg)} @font-face{src:url(f.woff)}</style><div style="background-image:url('inline.png')"></div>`;
    expect(images(html)).to.have.members(['http://site.test/dir/hero.jpg', 'http://site.test/dir/inline.png']);
  });

  it('finds poster, input type=image, SVG image, preload, noscript, legacy background', () => {
    const html = `
      <head><link rel="preload" as="image" href="pre.jpg" imagesrcset="pre-2x.jpg 2x"><link rel="preload" as="script" href="x.js"></head>
      <video poster="poster.jpg"></video>
      <input type="IMAGE" src="button.png"><input type="text" src="no.png">
      <svg><image href="svg1.png"/><image xlink:href="svg2.png"/></svg>
      <noscript><img src="noscript.jpg"></noscript>
      <table background="table-bg.gif"><tr><td>x</td></tr></table>`;
    expect(images(html)).to.have.members(['pre.jpg', 'pre-2x.jpg', 'poster.jpg', 'button.png', 'svg1.png', 'svg2.png', 'noscript.jpg', 'table-bg.gif'].map((p) => `http://site.test/dir/${p}`));
  });

  it('finds icons and og:/twitter: images unless turned off', () => {
    const html = `<link rel="icon" href="/favicon.ico"><link rel="apple-touch-icon" href="/touch.png">
      <meta property="og:image" content="https://cdn.test/og.jpg"><meta name="twitter:image" content="/tw.jpg">`;
    expect(images(html)).to.have.members(['http://site.test/favicon.ico', 'http://site.test/touch.png', 'https://cdn.test/og.jpg', 'http://site.test/tw.jpg']);
    expect(images(html, { includeIcons: false, includeMetaImages: false })).to.deep.equal([]);
  });

  it('treats <image> outside SVG as <img>, as the HTML parser does', () => {
    expect(images('<image src="legacy.png">')).to.deep.equal(['http://site.test/dir/legacy.png']);
  });

  it('applies <base href> to the whole document, even before it', () => {
    const html = '<img src="before.png"><base href="https://static.test/assets/"><img src="after.png"><a href="next.html">n</a>';
    const page = extractPage(html, PAGE);
    expect(page.images.map((i) => i.url)).to.deep.equal(['https://static.test/assets/before.png', 'https://static.test/assets/after.png']);
    expect(page.links).to.deep.equal(['https://static.test/assets/next.html']);
    expect(page.baseUrl).to.equal('https://static.test/assets/');
  });

  it('copes with tricky HTML: unclosed tags, uppercase, entities, spaces, unquoted attributes', () => {
    const html = `<DIV><P>text<IMG SRC="Upper.PNG"><img src=unquoted.png alt=x>
      <img src="q.png?a=1&amp;b=2"><img src="my photo.jpg"><img src="&#x2F;abs.png"><img src="  padded.png  ">
      <img src="">< img src="broken.png"><img src="data:image/png;base64,AAAA">`;
    expect(images(html)).to.have.members([
      'http://site.test/dir/Upper.PNG',
      'http://site.test/dir/unquoted.png',
      'http://site.test/dir/q.png?a=1&b=2',
      'http://site.test/dir/my%20photo.jpg',
      'http://site.test/abs.png',
      'http://site.test/dir/padded.png',
    ]);
  });

  it('reports each image once, with where it was first seen', () => {
    const page = extractPage('<img src="x.png"><div style="background:url(x.png)"></div><img srcset="x.png 2x">', PAGE);
    expect(page.images).to.deep.equal([{ url: 'http://site.test/dir/x.png', via: 'img' }]);
  });

  it('drops URLs longer than the limit', () => {
    expect(images(`<img src="/${'a'.repeat(3000)}.png">`)).to.deep.equal([]);
  });
});

describe('page extraction: links and stylesheets', () => {
  it('follows <a>, <area>, frames and meta refresh; skips mailto/javascript/tel/data/fragments', () => {
    const html = `<a href="a.html#x">a</a><A HREF="/b.html">b</A><map><area href="c.html"></map>
      <iframe src="frame.html"></iframe><meta http-equiv="refresh" content="5; url=/refreshed.html">
      <a href="mailto:x@y.z">m</a><a href="javascript:go()">j</a><a href="tel:1">t</a><a href="#top">f</a><a href="data:text/html,x">d</a>`;
    expect(extractPage(html, PAGE).links).to.have.members([
      'http://site.test/dir/a.html',
      'http://site.test/b.html',
      'http://site.test/dir/c.html',
      'http://site.test/dir/frame.html',
      'http://site.test/refreshed.html',
    ]);
  });

  it('lists external stylesheets', () => {
    const html = '<link rel="stylesheet" href="/s.css"><link rel="alternate stylesheet" href="alt.css"><link rel="preload" as="style" href="p.css">';
    expect(extractPage(html, PAGE).stylesheets).to.deep.equal(['http://site.test/s.css', 'http://site.test/dir/alt.css']);
  });
});

describe('page extraction: links to image files', () => {
  it('reports <a href="big.jpg"> as an image, not a page', () => {
    const page = extractPage('<a href="/full/big.JPG?x=1">zoom</a><a href="/about.html">about</a><a href="/img.php">dyn</a>', PAGE);
    expect(page.images).to.deep.equal([{ url: 'http://site.test/full/big.JPG?x=1', via: 'link' }]);
    expect(page.links).to.deep.equal(['http://site.test/about.html', 'http://site.test/img.php']);
  });
});
