/**
 * node --import tsx bench/html-extract-bench.ts [--runs 200] [--baseline FILE]
 *
 * What page extraction (`extractPage`, HTML → images and links) costs in CPU, per page and in
 * MB/s, on: a realistic 100 KB article page (200 images in every form, 300 links, inline
 * scripts, text), the synthetic site's pages, and hostile pages (a 3.8 MB page of 100,000
 * links, deep nesting, misnested formatting elements, a 5,000-candidate srcset, …) that must
 * stay linear. For scale it also times htmlparser2's tokenizer alone (no tree, no extraction:
 * the floor a streaming extractor could reach) and parse5 with its default tree.
 * `--baseline FILE` also times another module exporting `extractPage` (e.g. an older version,
 * copied out with its sibling modules) on the same pages.
 *
 * ESM-only dependencies (parse5, …) are loaded natively before anything requires them: tsx
 * rewrites ESM packages to CommonJS when they are required, which makes parse5 5–9× slower
 * than in production (the tsc build run by plain node, which uses Node's own require(esm)).
 */
import Module from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Parser as Htmlparser2 } from 'htmlparser2';
import type * as Parse5 from 'parse5';
import type * as PageExtractor from '../src/crawler/page-extractor';
import { startSyntheticSite } from '../src/demo/synthetic-site';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' }, baseline: { type: 'string' } } });
const RUNS = Number(values.runs);

type Extract = (html: string, url: string) => unknown;

/** ms per call: the median of `runs` timed calls, after a warm-up. */
function time(fn: () => void, runs: number): number {
  for (let i = 0; i < Math.min(20, Math.ceil(runs / 5)); i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** A news/shop-like page: head metadata, nav, 200 images in every form, 300 links, prose, scripts. */
function realisticPage(): string {
  const head: string[] = [
    '<meta charset="utf-8"><title>Spring collection – Example Shop</title>',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta property="og:image" content="https://cdn.example.test/og/spring.jpg">',
    '<link rel="stylesheet" href="/assets/site.css"><link rel="icon" href="/favicon.ico">',
    '<link rel="preload" as="image" href="/hero.jpg" imagesrcset="/hero-800.jpg 800w, /hero-1600.jpg 1600w">',
    `<style>${Array.from({ length: 40 }, (_, i) => `.c${i}{margin:${i}px;background:url(/bg/c${i}.png) no-repeat}`).join('\n')}</style>`,
    `<script type="application/ld+json">${JSON.stringify({ '@type': 'Product', offers: Array.from({ length: 30 }, (_, i) => ({ sku: `S${i}`, price: i * 3.5 })) })}</script>`,
    `<script>window.dataLayer=[];${'function f(a,b){return a<b?a:b}\n'.repeat(30)}</script>`,
  ];
  const body: string[] = ['<header><nav><ul>'];
  for (let i = 0; i < 60; i++) body.push(`<li class="nav-item"><a class="nav-link" href="/category/${i}/">Category ${i}</a>`);
  body.push('</ul></nav></header><main>');
  const prose = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit &amp; sed do eiusmod tempor incididunt ut labore. ';
  for (let i = 0; i < 200; i++) {
    const p = `/media/${i}/photo`;
    switch (i % 8) {
      case 0: body.push(`<figure class="card"><img src="${p}-400.jpg" srcset="${p}-400.jpg 400w, ${p}-800.jpg 800w, ${p}-1200.jpg 1200w" sizes="(max-width: 600px) 100vw, 33vw" alt="Product ${i}" loading="lazy" width="400" height="300"><figcaption>${prose}</figcaption></figure>`); break;
      case 1: body.push(`<picture><source type="image/avif" srcset="${p}.avif 1x, ${p}@2x.avif 2x"><source type="image/webp" srcset="${p}.webp"><img src="${p}.jpg" alt=""></picture>`); break;
      case 2: body.push(`<img class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="${p}.jpg" data-srcset="${p}-2x.jpg 2x">`); break;
      case 3: body.push(`<div class="hero c${i % 40}" style="background-image:url('${p}-bg.jpg')" data-bg="${p}-lazy-bg.jpg"><p>${prose}</p></div>`); break;
      case 4: body.push(`<a href="${p}-full.jpg" class="zoom"><img src="${p}-thumb.jpg" alt="zoom"></a>`); break;
      case 5: body.push(`<svg class="icon" viewBox="0 0 24 24"><use href="#i${i}"></use><image href="${p}.svg" width="24" height="24"/></svg>`); break;
      case 6: body.push(`<video poster="${p}-poster.jpg" controls><source src="${p}.mp4" type="video/mp4"></video>`); break;
      case 7: body.push(`<noscript><img src="${p}-noscript.jpg"></noscript><p>${prose}${prose}</p>`); break;
    }
  }
  for (let i = 0; i < 240; i++) body.push(`<p><a href="/product/${i}.html?ref=list&amp;pos=${i}" title="Product ${i}">Product ${i}</a> ${i % 3 === 0 ? prose : ''}`);
  body.push('</main><footer><table><tr><td>Contact</td><td><a href="mailto:x@example.test">mail</a></td></tr></table></footer>');
  return `<!DOCTYPE html><html lang="en"><head>${head.join('\n')}</head><body>${body.join('\n')}</body></html>`;
}

function hostilePages(): [string, string][] {
  const n = 100_000;
  return [
    ['100,000 links <a href>…</a> (3.8 MB)', Array.from({ length: n }, (_, i) => `<a href="/trap/page-${i}.html">link ${i}</a><br>`).join('\n')],
    ['100,000 unclosed <a href> (adoption agency)', Array.from({ length: n }, (_, i) => `<a href="/u/${i}">x`).join('')],
    ['100,000 links in unclosed <li>', `<ul>${Array.from({ length: n }, (_, i) => `<li><a href="/li/${i}">x</a>`).join('')}`],
    ['100,000 nested <div>', '<div>'.repeat(n) + '<img src=deep.png>'],
    ['20,000 nested <div>, then 20,000 </p>', '<div>'.repeat(20_000) + '</p>'.repeat(20_000)],
    ['20,000 nested <div>, then 20,000 <p>', '<div>'.repeat(20_000) + '<p>x'.repeat(20_000)],
    ['10,000 distinct unclosed <b>, then 1,000 <p>', Array.from({ length: 10_000 }, (_, i) => `<b id=b${i}>`).join('') + '<p>x</p>'.repeat(1_000)],
    ['100,000 <table><td> unclosed', '<table><tr><td>x'.repeat(20_000)],
    ['100,000 <select><option>', '<select>' + '<option>x'.repeat(n)],
    ['one srcset of 5,000 candidates', `<img srcset="${Array.from({ length: 5_000 }, (_, i) => `/s/${i}.jpg ${i + 1}w`).join(', ')}">`],
    ['1,000 srcsets of 1,000 candidates', Array.from({ length: 1_000 }, (_, j) => `<img srcset="${Array.from({ length: 1_000 }, (_, i) => `/s/${j}/${i}.jpg ${i + 1}w`).join(',')}">`).join('')],
    ['srcset URL with 100,000 commas', `<img srcset="a${','.repeat(n)}b, c.jpg 2x">`],
    ['one element with 100,000 attributes', `<div ${Array.from({ length: n }, (_, i) => `a${i}=x`).join(' ')} data-src="/x.png"></div>`],
  ];
}

function report(name: string, html: string, candidates: [string, Extract][], runs: number) {
  const mb = Buffer.byteLength(html) / 1e6;
  const row = candidates.map(([label, fn]) => {
    const ms = time(() => fn(html, 'https://shop.example.test/spring/index.html'), runs);
    return `${label} ${ms.toFixed(3)} ms (${(mb / (ms / 1000)).toFixed(1)} MB/s)`;
  });
  console.log(`${name} [${(mb * 1000).toFixed(1)} KB]\n  ${row.join('\n  ')}`);
}

/** Puts the native ESM module in require's cache, so that later require() calls get it. */
async function preloadNativeEsm(specifier: string): Promise<unknown> {
  const ns: unknown = await import(specifier);
  const file = require.resolve(specifier);
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = ns;
  require.cache[file] = m;
  return ns;
}

async function main() {
  const { parse: parse5 } = (await preloadNativeEsm('parse5')) as typeof Parse5;
  await preloadNativeEsm('@csstools/css-tokenizer');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { extractPage } = require('../src/crawler/page-extractor') as typeof PageExtractor;
  const candidates: [string, Extract][] = [['extractPage              ', extractPage]];
  if (values.baseline) {
    const mod = (await import(path.resolve(values.baseline))) as { extractPage: Extract };
    candidates.push(['baseline extractPage     ', mod.extractPage]);
  }
  const floors: [string, Extract][] = [
    ['htmlparser2 tokenize only', (html) => new Htmlparser2({}, { decodeEntities: true }).end(html)],
    ['parse5 default tree only ', (html) => parse5(html)],
  ];

  const page = realisticPage();
  const one = extractPage(page, 'https://shop.example.test/spring/index.html');
  console.log(`realistic page: ${one.images.length} images, ${one.links.length} links`);
  report('realistic page', page, [...candidates, ...floors], RUNS);

  const site = await startSyntheticSite({ pages: 300, imagesPerPage: 16, minImageBytes: 2_000, maxImageBytes: 4_000, seed: 1, specials: false });
  const pages = [...site.routes.site.values()].filter((r) => String(r.type).startsWith('text/html')).map((r) => String(r.body));
  await site.close();
  const all = pages.join('');
  const perPage = (fn: Extract) => (_: string, url: string) => {
    for (const p of pages) fn(p, url);
  };
  report(`synthetic site, ${pages.length} pages (whole site per call)`, all, [...candidates, ...floors].map(([l, f]) => [l, perPage(f)] as [string, Extract]), 20);

  for (const [name, html] of hostilePages()) {
    const r = extractPage(html, 'https://trap.example.test/');
    console.log(`hostile: ${name} -> ${r.images.length} images, ${r.links.length} links, dropped ${JSON.stringify(r.dropped)}`);
    report('  ', html, candidates, 3);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
