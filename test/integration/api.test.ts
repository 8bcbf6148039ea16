import sharp from 'sharp';
import { createHash } from 'node:crypto';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { waitFor } from '../support/wait-for';
import { createApp } from '../../src/api/app';
import { RunningSite, startSyntheticSite } from '../../src/demo/synthetic-site';
import { TestRuntime, startTestRuntime } from '../support/test-env';

const TOKEN = 'test-token-0123456789abcdef';

describe('main API', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let site: RunningSite;
  let server: Server;
  let base: string;

  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, headers: res.headers, body: type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer()) };
  };

  before(async () => {
    site = await startSyntheticSite({ pages: 8, imagesPerPage: 6, minImageBytes: 1000, maxImageBytes: 3000, seed: 9, specials: false });
    t = await startTestRuntime();
    const app = createApp(t.rt, TOKEN);
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((r) => server?.close(r));
    await t?.close();
    await site?.close();
  });

  it('requires the bearer token (health excepted)', async () => {
    expect((await call('GET', '/api/crawl/status', undefined, null)).status).to.equal(401);
    expect((await call('GET', '/api/images', undefined, 'wrong-token')).status).to.equal(401);
    expect((await call('GET', '/admin/queues', undefined, null)).status).to.equal(401);
    const health = await call('GET', '/api/health', undefined, null);
    expect(health).to.deep.include({ status: 200, body: { ok: true, database: true, redis: true } });
  });

  it('answers a malformed Bull Board cookie with 401, not 500', async () => {
    for (const cookie of ['image_crawler_session=%E0%A4%A', 'image_crawler_session=9999999999999.abc.def', `image_crawler_session=${TOKEN}`]) {
      const res = await fetch(`${base}/admin/queues`, { headers: { Cookie: cookie } });
      expect(res.status, cookie).to.equal(401);
    }
  });

  it('opens Bull Board with the token; a ?token= link sets a session cookie (never the token) and drops the token from the address', async () => {
    expect((await call('GET', '/admin/queues')).status).to.equal(200);
    const viaLink = await fetch(`${base}/admin/queues/?token=${TOKEN}&x=1`, { redirect: 'manual' });
    expect(viaLink.status).to.equal(303);
    expect(viaLink.headers.get('location')).to.equal('/admin/queues/?x=1');
    const cookie = viaLink.headers.get('set-cookie') ?? '';
    expect(cookie).to.match(/HttpOnly/i);
    expect(cookie).to.match(/SameSite=Strict/i);
    expect(cookie).not.to.contain(TOKEN);
    const again = await fetch(`${base}/admin/queues/api/queues`, { headers: { Cookie: cookie.split(';')[0] } });
    expect(again.status).to.equal(200);
    // A wrong token in a link sets nothing.
    const wrong = await fetch(`${base}/admin/queues?token=wrong`, { redirect: 'manual' });
    expect(wrong.status).to.equal(401);
    expect(wrong.headers.get('set-cookie')).to.equal(null);
  });

  it('answers bad input with a 4xx that says what is wrong', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/crawl/start', {}, /urls: Required/],
      ['POST', '/api/crawl/start', { urls: [] }, /give at least one start URL/],
      ['POST', '/api/crawl/start', { urls: ['ftp://x.test/'] }, /is not an http\(s\) URL/],
      ['POST', '/api/crawl/start', { urls: ['http://x.test/'], maxPages: -1 }, /maxPages/],
      ['POST', '/api/crawl/start', { urls: ['http://x.test/'], include: ['(unclosed'] }, /invalid regular expression/],
      ['POST', '/api/crawl/start', { urls: ['http://x.test/'], allowPrivate: true }, /unknown key "allowPrivate"/],
      ['POST', '/api/crawl/start', '{not json', /not valid JSON/],
      ['POST', '/api/crawl/stop', { sessionId: 'nope' }, /must be a session id/],
      ['GET', '/api/crawl/status?limit=0', undefined, /limit/],
      ['GET', '/api/images?minSize=big', undefined, /minSize/],
      ['GET', '/api/images/abc', undefined, /image id/],
      ['GET', '/api/images/0x10', undefined, /image id is a decimal number/],
      ['GET', '/api/images/1e3', undefined, /image id is a decimal number/],
      ['GET', '/api/images/-1', undefined, /image id/],
      ['GET', '/api/crawl/failures/nope', undefined, /session id/],
      ['POST', '/api/crawl/start', { urls: ['http://x.test/'], maxPages: 1e12 }, /maxPages/],
      ['POST', '/api/crawl/start', { urls: ['http://x.test/'], maxDepth: 1e9 }, /maxDepth/],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).to.equal(400);
      expect((res.body as { error: string }).error).to.match(message);
    }
    expect((await call('GET', '/api/crawl/status/00000000-0000-4000-8000-000000000000')).status).to.equal(404);
    expect((await call('GET', '/api/images/999999999')).status).to.equal(404);
    expect((await call('GET', '/api/images/99999999999999999999')).status, 'beyond any id').to.equal(404);
    expect((await call('GET', '/api/images/0')).status).to.equal(404);
    expect((await call('GET', '/api/crawl/failures/00000000-0000-4000-8000-000000000000')).status).to.equal(404);
    expect((await call('GET', '/api/nothing-here')).status).to.equal(404);
  });

  it('reports HA as disabled for a single node and refuses a failover with nothing to fail over to', async () => {
    expect((await call('GET', '/api/ha-status')).body).to.deep.include({ enabled: false, nodes: [] });
    const failover = await call('POST', '/api/ha/failover', {});
    expect(failover.status).to.equal(409);
    expect((failover.body as { error: string }).error).to.match(/no database.nodes configured/);
    expect((await call('GET', '/api/ha-status', undefined, null)).status).to.equal(401);
    const switchover = await call('POST', '/api/ha/switchover', { to: 'nowhere' });
    expect(switchover.status).to.equal(409);
  });

  it('starts a crawl, reports its status, and serves, filters and deletes its images', async () => {
    const start = await call('POST', '/api/crawl/start', { urls: [site.startUrl], maxPages: 100 });
    expect(start.status).to.equal(202);
    const sessionId = (start.body as { sessionId: string }).sessionId;
    type Status = { status: string; images_stored: number; pending: number };
    const status = await waitFor(
      `session ${sessionId} reported completed by the API`,
      async () => {
        const s = (await call('GET', `/api/crawl/status?sessionId=${sessionId}`)).body as Status;
        return s.status === 'completed' && s;
      },
      60_000,
    );
    expect(status.images_stored).to.equal(site.expected.size);
    expect(status.pending).to.equal(0);
    const list = (await call('GET', '/api/crawl/status')).body as { sessions: { id: string }[] };
    expect(list.sessions.map((s) => s.id)).to.include(sessionId);

    const page1 = (await call('GET', `/api/images?sessionId=${sessionId}&limit=10`)).body as { total: number; images: { id: number }[] };
    expect(page1.total).to.equal(site.expected.size);
    expect(page1.images).to.have.length(10);
    const page2 = (await call('GET', `/api/images?sessionId=${sessionId}&limit=10&offset=10`)).body as { images: { id: number }[] };
    expect(page2.images[0].id).to.be.greaterThan(page1.images[9].id);
    const pngs = (await call('GET', `/api/images?sessionId=${sessionId}&format=png&limit=500`)).body as { images: { format: string }[] };
    expect(pngs.images.length).to.be.greaterThan(0);
    expect(pngs.images.every((i) => i.format === 'png')).to.equal(true);
    const big = (await call('GET', `/api/images?sessionId=${sessionId}&minSize=2500&limit=500`)).body as { images: { file_size: number }[] };
    expect(big.images.every((i) => i.file_size >= 2500)).to.equal(true);

    const id = page1.images[0].id;
    const one = (await call('GET', `/api/images/${id}`)).body as { url: string; sha256: string; format: string; file_path: string };
    const file = await call('GET', `/api/images/${id}/file`);
    expect(file.status).to.equal(200);
    expect(file.headers.get('content-type')).to.equal(`image/${one.format}`);
    expect(createHash('sha256').update(file.body as Buffer).digest('hex')).to.equal(one.sha256);
    // Conditional GET against the sha256 ETag, and byte ranges.
    const etag = file.headers.get('etag') as string;
    expect(etag).to.equal(`"${one.sha256}"`);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    // (node:http: fetch() adds Cache-Control: no-cache to a request with If-None-Match, as the Fetch standard says.)
    const revalidated = await new Promise<number | undefined>((resolve, reject) =>
      http.get(`${base}/api/images/${id}/file`, { headers: { ...auth, 'If-None-Match': etag } }, (r) => resolve(r.resume().statusCode)).on('error', reject),
    );
    expect(revalidated).to.equal(304);
    const part = await fetch(`${base}/api/images/${id}/file`, { headers: { ...auth, Range: 'bytes=0-9' } });
    expect(part.status).to.equal(206);
    expect(part.headers.get('content-range')).to.equal(`bytes 0-9/${(file.body as Buffer).length}`);
    expect(Buffer.from(await part.arrayBuffer())).to.deep.equal((file.body as Buffer).subarray(0, 10));

    // Thumbnails: a WebP within 240 px, cached by content.
    const thumb = await call('GET', `/api/images/${id}/thumb`);
    expect(thumb.status).to.equal(200);
    expect(thumb.headers.get('content-type')).to.equal('image/webp');
    const meta = await sharp(thumb.body as Buffer).metadata();
    expect(meta.format).to.equal('webp');
    expect(Math.max(meta.width ?? 0, meta.height ?? 0)).to.be.at.most(240);
    expect((await call('GET', `/api/images/${id}/thumb`)).body).to.deep.equal(thumb.body);
    // Keyset paging, newest first, and every row of one content.
    const newest = (await call('GET', `/api/images?sessionId=${sessionId}&newest=true&limit=5`)).body as { images: { id: number }[] };
    const older = (await call('GET', `/api/images?sessionId=${sessionId}&beforeId=${newest.images[4].id}&limit=5`)).body as { total: number; images: { id: number }[] };
    expect(older.total).to.equal(site.expected.size);
    expect(older.images[0].id).to.be.below(newest.images[4].id);
    const same = (await call('GET', `/api/images?sha256=${one.sha256}`)).body as { images: { sha256: string }[] };
    expect(same.images.length).to.be.at.least(1);
    expect(same.images.every((i) => i.sha256 === one.sha256)).to.equal(true);

    const del = await call('DELETE', `/api/images/${id}`);
    // The file goes with its last row; the test database keeps rows of earlier runs of this site.
    const [{ n: othersUsingIt }] = await t.rt.knex('images').where({ sha256: one.sha256 }).count<{ n: string }[]>({ n: '*' });
    expect(del.body).to.deep.equal({ deleted: true, id, fileRemoved: Number(othersUsingIt) === 0 });
    expect(await t.rt.store.has(one.file_path), 'the file stays while a row uses it').to.equal(Number(othersUsingIt) > 0);
    expect((await call('GET', `/api/images/${id}`)).status).to.equal(404);

    const timeline = (await call('GET', `/api/crawl/timeline/${sessionId}`)).body as { sliceS: number; points: { t: number; pages: number; images: number; bytes: number }[] };
    expect(timeline.points.reduce((n, p) => n + p.images, 0), 'images over the timeline (one was deleted above)').to.equal(status.images_stored - 1);
    expect(timeline.points.reduce((n, p) => n + p.pages, 0), 'pages over the timeline').to.be.greaterThan(0);
    expect(timeline.points.every((p, i, a) => p.t >= 0 && (i === 0 || p.t > a[i - 1].t))).to.equal(true);
    const failures = (await call('GET', `/api/crawl/failures/${sessionId}`)).body as { sessionId: string; groups: unknown[] };
    expect(failures).to.deep.equal({ sessionId, groups: [] }); // this site has no failing URL
    const stopped = await call('POST', '/api/crawl/stop', { sessionId });
    expect((stopped.body as { status: string }).status).to.equal('completed'); // already finished: stop changes nothing
  });
});
