import type http from 'node:http';
import { ImageFactory } from './image-factory';
import { type LocalServer, startLocalServer } from './local-server';

/**
 * Pages whose images only a browser finds: each is one way real sites make image requests at run
 * time (scripts, lazy loading, timers, fetched JSON, frames, shadow DOM, CSS set by script...).
 * Render mode is measured on them against what Chromium itself requests from the server when a
 * patient visitor loads and scrolls each page. Images are /img/<pattern>-<n>.png.
 */

const SPACER = '<div style="height:4000px">spacer</div>';
const img = (pattern: string, n: number) => `/img/${pattern}-${n}.png`;

/** pattern → the page's body (each pattern is a page `/p/<pattern>.html`). */
export const SCRIPTED_PATTERNS: Record<string, string> = {
  'script-image': `<script>const i = new Image(); i.src = '${img('script-image', 1)}'; document.body.append(i);</script>`,
  'lazy-observer': `${SPACER}<img class="lazy" data-src="${img('lazy-observer', 1)}" width="20" height="20">
<script>new IntersectionObserver((es) => es.forEach((e) => { if (e.isIntersecting) e.target.src = e.target.dataset.src; })).observe(document.querySelector('.lazy'));</script>`,
  'native-lazy': `${SPACER}<img loading="lazy" src="${img('native-lazy', 1)}" width="20" height="20">`,
  'js-background': `<div id="d" style="width:20px;height:20px"></div><script>document.getElementById('d').style.backgroundImage = 'url(${img('js-background', 1)})';</script>`,
  'js-srcset': `<img id="i" width="20" height="20"><script>document.getElementById('i').srcset = '${img('js-srcset', 1)} 1x, ${img('js-srcset', 2)} 2x';</script>`,
  'picture-injected': `<div id="d"></div><script>document.getElementById('d').innerHTML = '<picture><source srcset="${img('picture-injected', 1)}" type="image/png"><img src="${img('picture-injected', 2)}"></picture>';</script>`,
  'class-toggle': `<link rel="stylesheet" href="/css/class-toggle.css"><div id="d" style="width:20px;height:20px"></div><script>document.getElementById('d').className = 'on';</script>`,
  'fetched-gallery': `<div id="g"></div><script>fetch('/api/fetched-gallery.json').then((r) => r.json()).then((list) => list.forEach((u) => { const i = new Image(); i.src = u; document.getElementById('g').append(i); }));</script>`,
  delayed: `<script>setTimeout(() => { const i = new Image(); i.src = '${img('delayed', 1)}'; document.body.append(i); }, 1200);</script>`,
  carousel: `<img id="s" src="${img('carousel', 1)}"><script>let n = 1; const t = setInterval(() => { n++; document.getElementById('s').src = '/img/carousel-' + n + '.png'; if (n === 3) clearInterval(t); }, 400);</script>`,
  'iframe-script': `<iframe src="/frame/iframe-script.html" width="100" height="100"></iframe>`,
  'shadow-dom': `<photo-card></photo-card><script>customElements.define('photo-card', class extends HTMLElement { connectedCallback() { this.attachShadow({ mode: 'open' }).innerHTML = '<img src="${img('shadow-dom', 1)}">'; } });</script>`,
  'document-write': `<script>document.write('<img src="${img('document-write', 1)}">');</script>`,
  'preload-link': `<script>const l = document.createElement('link'); l.rel = 'preload'; l.as = 'image'; l.href = '${img('preload-link', 1)}'; document.head.append(l);</script>`,
  'video-poster': `<video id="v" width="20" height="20"></video><script>document.getElementById('v').poster = '${img('video-poster', 1)}';</script>`,
  'svg-image': `<div id="d"></div><script>document.getElementById('d').innerHTML = '<svg width="20" height="20"><image href="${img('svg-image', 1)}" width="20" height="20"/></svg>';</script>`,
  'image-set': `<div id="d" style="width:20px;height:20px"></div><script>document.getElementById('d').style.backgroundImage = 'image-set(url(${img('image-set', 1)}) 1x, url(${img('image-set', 2)}) 2x)';</script>`,
  'infinite-scroll': `<div id="feed">${SPACER}</div><script>let page = 0; addEventListener('scroll', () => {
  if (page >= 2 || scrollY + innerHeight < document.documentElement.scrollHeight - 200) return;
  page++; const i = new Image(); i.src = '/img/infinite-scroll-' + page + '.png'; const f = document.getElementById('feed'); f.append(i); f.insertAdjacentHTML('beforeend', '${SPACER}');
});</script>`,
  'fetch-blob': `<img id="i"><script>fetch('${img('fetch-blob', 1)}').then((r) => r.blob()).then((b) => { document.getElementById('i').src = URL.createObjectURL(b); });</script>`,
  'object-svg': `<div id="d"></div><script>document.getElementById('d').innerHTML = '<object data="/img/object-svg-1.svg" type="image/svg+xml" width="20" height="20"></object>';</script>`,
  'list-style': `<ul id="u"><li>one</li></ul><script>document.getElementById('u').style.listStyleImage = 'url(${img('list-style', 1)})';</script>`,
  'input-image': `<form><input id="b" type="image" alt="go"></form><script>document.getElementById('b').src = '${img('input-image', 1)}';</script>`,
  'css-variable': `<style>#h { width: 20px; height: 20px; background-image: var(--hero); }</style><div id="h"></div><script>document.documentElement.style.setProperty('--hero', 'url(${img('css-variable', 1)})');</script>`,
  'xhr-html': `<div id="d"></div><script>const x = new XMLHttpRequest(); x.open('GET', '/api/xhr-html.html'); x.onload = () => { document.getElementById('d').innerHTML = x.responseText; }; x.send();</script>`,
};

/** What the site serves besides pages and PNGs. */
const EXTRA: Record<string, [string, string]> = {
  '/css/class-toggle.css': ['text/css', `.on { background: url(${img('class-toggle', 1)}); }`],
  '/api/fetched-gallery.json': ['application/json', JSON.stringify([1, 2, 3].map((n) => img('fetched-gallery', n)))],
  '/frame/iframe-script.html': ['text/html', `<!doctype html><body><script>const i = new Image(); i.src = '${img('iframe-script', 1)}'; document.body.append(i);</script></body>`],
  '/api/xhr-html.html': ['text/html', `<img src="${img('xhr-html', 1)}"><img src="${img('xhr-html', 2)}">`],
  '/img/object-svg-1.svg': ['image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20" fill="teal"/></svg>'],
};

export interface ScriptedSite extends LocalServer {
  /** Every page of the corpus. */
  pages: string[];
  /** Image paths served so far to requests whose User-Agent matched `agent`. */
  imagesServedTo(agent: RegExp): Set<string>;
}

/** Serves the corpus on 127.0.0.1 and logs who asked for which image. */
export async function startScriptedSite(): Promise<ScriptedSite> {
  const factory = await ImageFactory.create({ perFormat: 1, minBytes: 600, maxBytes: 1200, seed: 17 });
  const served: { path: string; agent: string }[] = [];
  const ids = new Map<string, number>();
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const page = /^\/p\/([a-z-]+)\.html$/.exec(path)?.[1];
    const extra = EXTRA[path];
    const agent = req.headers['user-agent'] ?? '';
    if (page && SCRIPTED_PATTERNS[page] !== undefined) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><head><title>${page}</title></head><body style="margin:0">${SCRIPTED_PATTERNS[page]}</body></html>`);
    } else if (extra) {
      if (extra[0].startsWith('image/')) served.push({ path, agent });
      res.writeHead(200, { 'Content-Type': extra[0] }).end(extra[1]);
    } else if (/^\/img\/[a-z-]+-\d+\.png$/.test(path)) {
      served.push({ path, agent });
      if (!ids.has(path)) ids.set(path, ids.size);
      res.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'no-store' }).end(factory.image('png', ids.get(path) ?? 0).body);
    } else {
      res.writeHead(404).end();
    }
  };
  const server = await startLocalServer(handler);
  return {
    ...server,
    pages: Object.keys(SCRIPTED_PATTERNS).map((p) => `${server.origin}/p/${p}.html`),
    imagesServedTo: (agent) => new Set(served.filter((s) => agent.test(s.agent)).map((s) => s.path)),
  };
}
