import type http from 'node:http';
import { expect } from 'chai';
import sharp from 'sharp';
import { startLocalServer } from '../../src/demo/local-server';
import type { ImageRow } from '../../src/db/image-repository';
import { InvalidRequestError } from '../../src/errors';
import { TestRuntime, startTestRuntime } from '../support/test-env';

const solid = (r: number, g: number, b: number, format: 'png' | 'jpeg' | 'webp') =>
  sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g, b } } })[format]().toBuffer();

describe('re-crawl (--since): only what changed is downloaded', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let round = 1;
  const seen: { path: string; ifNoneMatch?: string; ifModifiedSince?: string; status: number }[] = [];
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

  before(async () => {
    const images = {
      etag: await solid(200, 10, 10, 'png'),
      lm: await solid(10, 200, 10, 'jpeg'),
      changedV1: await solid(10, 10, 200, 'png'),
      changedV2: await solid(10, 10, 90, 'png'),
      gone: await solid(90, 90, 0, 'png'),
      plain: await solid(0, 90, 90, 'webp'),
    };
    const answer = (req: http.IncomingMessage, res: http.ServerResponse, status: number, headers: Record<string, string> = {}, body?: Buffer | string) => {
      seen.push({ path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'], ifModifiedSince: req.headers['if-modified-since'], status });
      res.writeHead(status, headers).end(body);
    };
    server = await startLocalServer((req, res) => {
      switch (req.url) {
        case '/':
          return answer(req, res, 200, { 'Content-Type': 'text/html' }, ['same-etag.png', 'same-lm.jpg', 'changed.png', 'gone.png', 'plain.webp'].map((f) => `<img src="/img/${f}">`).join(''));
        case '/img/same-etag.png':
          return req.headers['if-none-match'] === '"v1"' ? answer(req, res, 304, { ETag: '"v1"' }) : answer(req, res, 200, { 'Content-Type': 'image/png', ETag: '"v1"' }, images.etag);
        case '/img/same-lm.jpg':
          return req.headers['if-modified-since'] === LAST_MODIFIED
            ? answer(req, res, 304)
            : answer(req, res, 200, { 'Content-Type': 'image/jpeg', 'Last-Modified': LAST_MODIFIED }, images.lm);
        case '/img/changed.png': {
          const etag = `"c${round}"`;
          if (req.headers['if-none-match'] === etag) return answer(req, res, 304, { ETag: etag });
          return answer(req, res, 200, { 'Content-Type': 'image/png', ETag: etag }, round === 1 ? images.changedV1 : images.changedV2);
        }
        case '/img/gone.png':
          return round === 1 ? answer(req, res, 200, { 'Content-Type': 'image/png', ETag: '"g"' }, images.gone) : answer(req, res, 404);
        case '/img/plain.webp':
          return answer(req, res, 200, { 'Content-Type': 'image/webp' }, images.plain);
        default:
          return answer(req, res, 404);
      }
    });
    t = await startTestRuntime();
  });

  after(async () => {
    await t?.close();
    await server?.close();
  });

  const rows = async (id: string) => {
    const list = await t.rt.knex<ImageRow>('images').where({ session_id: id });
    return new Map(list.map((r) => [new URL(r.url).pathname, r]));
  };

  it('asks with the stored ETag / Last-Modified: a 304 keeps the earlier file, a change is stored anew, a gone image is failed', async () => {
    const first = await t.rt.sessions.start({ urls: [`${server.origin}/`] });
    expect((await t.waitForSession(first.id)).status).to.equal('completed');
    const before = await rows(first.id);
    expect(before.get('/img/same-etag.png')).to.deep.include({ status: 'stored', etag: '"v1"', revalidated: false });
    expect(before.get('/img/same-lm.jpg')).to.deep.include({ status: 'stored', last_modified: LAST_MODIFIED });

    round = 2;
    const fromRound2 = seen.length;
    const second = await t.rt.sessions.start({ urls: [`${server.origin}/`], since: first.id });
    const view = await t.waitForSession(second.id);
    expect(view.status).to.equal('completed');
    const after = await rows(second.id);

    for (const p of ['/img/same-etag.png', '/img/same-lm.jpg']) {
      const was = before.get(p) as ImageRow;
      expect(after.get(p), p).to.deep.include({ status: 'stored', http_status: 304, revalidated: true, sha256: was.sha256, file_path: was.file_path, width: 40, height: 30 });
      expect(await t.rt.store.exists(was.file_path as string)).to.equal(true);
    }
    const changed = after.get('/img/changed.png') as ImageRow;
    expect(changed).to.deep.include({ status: 'stored', http_status: 200, revalidated: false, etag: '"c2"' });
    expect(changed.sha256).to.not.equal(before.get('/img/changed.png')?.sha256);
    expect(after.get('/img/gone.png')).to.deep.include({ status: 'failed', http_status: 404 });
    expect(after.get('/img/plain.webp')).to.deep.include({ status: 'stored', http_status: 200, revalidated: false });
    expect(view.images_stored).to.equal(4);
    expect(view.images_revalidated, 'the two kept by a 304, counted in the session').to.equal(2);
    // Downloaded this time: the changed PNG and the WebP without validators, not the kept two.
    expect(view.bytes_downloaded).to.equal(Number(changed.file_size) + Number(after.get('/img/plain.webp')?.file_size));

    const asked = seen.slice(fromRound2).filter((s) => s.path.startsWith('/img/'));
    const by = (p: string) => asked.filter((s) => s.path === p);
    expect(by('/img/same-etag.png').map((s) => [s.ifNoneMatch, s.status])).to.deep.equal([['"v1"', 304]]);
    expect(by('/img/same-lm.jpg').map((s) => [s.ifModifiedSince, s.status])).to.deep.equal([[LAST_MODIFIED, 304]]);
    expect(by('/img/changed.png').map((s) => [s.ifNoneMatch, s.status])).to.deep.equal([['"c1"', 200]]);
    expect(by('/img/plain.webp').map((s) => [s.ifNoneMatch ?? null, s.ifModifiedSince ?? null])).to.deep.equal([[null, null]]);
  });

  it('refuses a re-crawl of a session that does not exist', async () => {
    const err = await t.rt.sessions.start({ urls: [`${server.origin}/`], since: '00000000-0000-4000-8000-000000000000' }).catch((e: Error) => e);
    expect(err).to.be.instanceOf(InvalidRequestError);
    expect((err as Error).message).to.equal('since: there is no crawl session 00000000-0000-4000-8000-000000000000');
  });
});
