import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { gunzipIfNeeded, parseSitemap } from '../../src/plugins/builtin/sitemaps';
import { Writable } from 'node:stream';
import winston from 'winston';
import { pluginEntries, reportFailure } from '../../src/plugins/load-plugins';
import { PluginHost, viaLabel } from '../../src/plugins/plugin-host';
import { validateConfig } from '../../src/config/load-config';

describe('plugins, pure parts', () => {
  it('parses a sitemap index, a urlset and an image sitemap; ignores what is not an http(s) URL', () => {
    expect(parseSitemap('<sitemapindex><sitemap><loc> https://a.example/s1.xml </loc></sitemap><sitemap><loc>ftp://x/y</loc></sitemap></sitemapindex>')).to.deep.equal({
      sitemaps: ['https://a.example/s1.xml'],
      pages: [],
      images: [],
    });
    const urlset = `<urlset xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
      <url><loc>https://a.example/p?x=1&amp;y=2</loc><image:image><image:loc>https://cdn.example/1.jpg</image:loc></image:image></url>
      <url><image:image><image:loc>https://cdn.example/orphan.jpg</image:loc></image:image></url>
      <url><loc>javascript:alert(1)</loc></url>
    </urlset>`;
    expect(parseSitemap(urlset)).to.deep.equal({
      sitemaps: [],
      pages: ['https://a.example/p?x=1&y=2'],
      images: [{ url: 'https://cdn.example/1.jpg', pageUrl: 'https://a.example/p?x=1&y=2' }],
    });
    // A truncated file yields what it holds so far.
    expect(parseSitemap('<urlset><url><loc>https://a.example/1</loc></url><url><loc>https://a.exa').pages).to.deep.equal(['https://a.example/1', 'https://a.exa']);
  });

  it('gunzips by magic bytes, within a size limit (a gzip bomb is refused)', () => {
    expect(gunzipIfNeeded(gzipSync('<urlset/>'), 1000).toString()).to.equal('<urlset/>');
    expect(gunzipIfNeeded(Buffer.from('<urlset/>'), 1000).toString()).to.equal('<urlset/>');
    expect(() => gunzipIfNeeded(gzipSync(Buffer.alloc(10_000_000)), 1_000_000)).to.throw(/buffer|length|larger/i);
  });

  it('turns sitemaps on by default, the notifiers on with alerts:, and a configured entry replaces a default', () => {
    const names = (raw: object) => pluginEntries(validateConfig(raw)).map((e) => e.module);
    expect(names({})).to.deep.equal(['sitemaps', 'render']);
    expect(names({ alerts: { webhook_url: 'https://hooks.example/x' }, plugins: [{ module: 'sitemaps', enabled: false }, { module: 'phash' }, { module: './mine.mjs' }] })).to.deep.equal(['render', 'webhook', 'phash', './mine.mjs']);
    expect(() => validateConfig({ plugins: [{ modul: 'x' }] })).to.throw(/plugins/);
    expect(viaLabel('/srv/plugins/gallery-finder.mjs')).to.equal('gallery-finder');
    expect(viaLabel('@acme/image-crawler-plugin-with-a-long-name')).to.have.length(24);
  });

  it('a hook that hangs, throws or returns nonsense is reported and ignored', async () => {
    const errors: string[] = [];
    const host = new PluginHost(
      [
        { name: 'good', plugin: { processPage: () => ({ pages: ['https://a.example/x'] }), processImage: () => ({ a: 1 }) } },
        { name: 'bad', plugin: { processPage: () => ({ pages: 'https://a.example/y' }) as never, processImage: () => ['x'] as never } },
      ],
      (name, hook, err) => errors.push(`${name} ${hook}: ${err.message}`),
    );
    const tools = { fetch: async () => Promise.reject(new Error('no')), allowed: async () => true, browserProxy: async () => Promise.reject(new Error('no')), robots: async () => ({ sitemaps: [], isAllowed: () => true }), once: async () => true };
    const page = { sessionId: 's', url: 'https://a.example/', status: 200, contentType: 'text/html', body: Buffer.from(''), depth: 0, render: false };
    expect(await host.processPage(page, tools)).to.deep.equal({ pages: ['https://a.example/x'], images: [] });
    expect(await host.processImage({ sessionId: 's', url: 'u', pageUrl: null, sha256: 'x', format: 'png', width: 1, height: 1, body: Buffer.from('') })).to.deep.equal({ a: 1 });
    expect(errors).to.deep.equal(['bad processPage: processPage: pages must be an array of URL strings', 'bad processImage: processImage must return an object of metadata']);
  });

  it('logs the same failure of a hook once per window (a render plugin without Chromium fails on every page), a different one at once', () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, next) {
        lines.push(JSON.parse(String(chunk)));
        next();
      },
    });
    const report = reportFailure(winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }));
    for (let i = 0; i < 50; i++) report('render', 'processPage', new Error('render: no Chromium found'));
    report('render', 'processPage', new Error('page timed out'));
    report('sitemaps', 'processPage', new Error('render: no Chromium found'));
    expect(lines.map((l) => `${l.plugin} ${l.hook}: ${l.error}`)).to.deep.equal([
      'render processPage: render: no Chromium found',
      'render processPage: page timed out',
      'sitemaps processPage: render: no Chromium found',
    ]);
    expect(lines[0]).to.include({ message: 'plugin failed' });
  });
});
