import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import sharp from 'sharp';
import type { ImageRow } from '../../src/db/image-repository';
import { type Handler, startServer } from '../support/hostile-server';
import { TestRuntime, startTestRuntime, testConfig } from '../support/test-env';

const png = (r: number) => sharp({ create: { width: 20, height: 20, channels: 3, background: { r, g: 40, b: 90 } } }).png().toBuffer();

describe('render mode: pages loaded in headless Chromium', function () {
  this.timeout(120_000);
  let site: Awaited<ReturnType<typeof startServer>>;
  let forbidden: http.Server;
  const forbiddenRequests: string[] = [];
  const browserRequests: { path: string; via: string | undefined }[] = [];
  let t: TestRuntime;

  before(async () => {
    // Another address the session's policy does not allow (only 127.0.0.1/32 is).
    forbidden = http.createServer((req, res) => {
      forbiddenRequests.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.alloc(0));
    });
    await new Promise<void>((r) => forbidden.listen(0, '127.0.0.2', r));
    const forbiddenPort = (forbidden.address() as AddressInfo).port;
    const page = `<!doctype html><html><body style="margin:0">
<img src="/img/static.png">
<div id="bg" style="width:20px;height:20px"></div>
<div style="margin-top:5000px"><img class="later" data-later="/img/lazy.png" width="20" height="20"></div>
<script>
  const made = new Image(); made.src = '/img/js-made.png'; document.body.appendChild(made);
  document.getElementById('bg').style.backgroundImage = 'url(/img/js-bg.png)';
  const a = document.createElement('a'); a.href = '/js-page.html'; a.textContent = 'more'; document.body.appendChild(a);
  new IntersectionObserver((entries) => entries.forEach((e) => { if (e.isIntersecting) e.target.src = e.target.dataset.later; })).observe(document.querySelector('.later'));
  const off = new Image(); off.src = 'http://127.0.0.2:${forbiddenPort}/img/forbidden.png';
</script></body></html>`;
    const send = (type: string, body: string | Buffer): Handler => (_q, res) => res.writeHead(200, { 'Content-Type': type }).end(body);
    const routes: Record<string, Handler> = {
      '/': send('text/html', page),
      '/js-page.html': send('text/html', '<img src="/img/second.png">'),
    };
    for (const [i, name] of ['static', 'js-made', 'js-bg', 'lazy', 'second'].entries()) routes[`/img/${name}.png`] = send('image/png', await png(40 * i));
    for (const [path, handler] of Object.entries(routes)) {
      routes[path] = (req, res) => {
        if (/HeadlessChrome/.test(req.headers['user-agent'] ?? '')) browserRequests.push({ path, via: req.headers.via });
        handler(req, res);
      };
    }
    site = await startServer(routes);
    t = await startTestRuntime(testConfig({ crawler: { allow_nets: ['127.0.0.1/32'] } }));
  });

  after(async () => {
    await t?.close();
    await site?.close();
    forbidden?.close();
  });

  const found = async (id: string) => {
    const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id });
    return rows.map((r) => [new URL(r.url).pathname, r.status]).sort();
  };

  it('finds the images scripts and lazy loading make, and the links scripts add; the browser obeys the network policy', async () => {
    const { id } = await t.rt.sessions.start({ urls: [`${site.origin}/`], render: true });
    expect((await t.waitForSession(id, 90_000)).status).to.equal('completed');
    expect(await found(id)).to.deep.equal([
      ['/img/js-bg.png', 'stored'],
      ['/img/js-made.png', 'stored'],
      ['/img/lazy.png', 'stored'],
      ['/img/second.png', 'stored'],
      ['/img/static.png', 'stored'],
    ]);
    expect(forbiddenRequests, 'the browser never asked a refused address').to.deep.equal([]);
    // The browser looks no name up: each of its requests went through the crawler's guarded proxy.
    expect(browserRequests.map((r) => r.path)).to.include.members(['/img/js-made.png', '/img/lazy.png', '/img/second.png']);
    expect(browserRequests.filter((r) => r.via !== '1.1 image-crawler'), 'browser requests that bypassed the proxy').to.deep.equal([]);
    expect(site.requests.filter((r) => r === '/'), 'the document is handed to the browser, not fetched again').to.have.length(1);
  });

  it('without render the same page yields only what its HTML names', async () => {
    const { id } = await t.rt.sessions.start({ urls: [`${site.origin}/`] });
    expect((await t.waitForSession(id)).status).to.equal('completed');
    expect(await found(id)).to.deep.equal([['/img/static.png', 'stored']]);
  });
});
