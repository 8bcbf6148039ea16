import { randomInt, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { ImageFactory } from '../../src/demo/image-factory';
import { StorageError } from '../../src/errors';
import type { FetchResult } from '../../src/http/http-client';
import { ingestImage } from '../../src/workers/image-ingest';
import { TestRuntime, startTestRuntime } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const TOKEN = 'test-token-0123456789abcdef';

/**
 * Deleting the last row of a file while another worker stores the same content: the worker found
 * the file already there (so wrote nothing), the DELETE then saw no other row and removed the
 * file, and the worker recorded a `stored` row whose file no longer existed.
 */
describe('DELETE of an image racing a store of the same content', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let server: Server;
  let base: string;
  let factory: ImageFactory;

  before(async () => {
    factory = await ImageFactory.create({ perFormat: 1, minBytes: 800, maxBytes: 1500, seed: 31 });
    t = await startTestRuntime(undefined, false);
    server = await new Promise((resolve) => {
      const s = createApp(t.rt, TOKEN).listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server?.close(r));
    await t?.close();
  });

  const newSession = async () => {
    const id = randomUUID();
    await t.rt.knex('crawl_sessions').insert({ id, status: 'running', start_urls: '[]', options: '{}' });
    return id;
  };
  const fetched = (body: Buffer): FetchResult => ({ finalUrl: 'http://site.test/a.png', status: 200, contentType: 'image/png', body: Buffer.from(body), redirects: [] });
  const row = (sessionId: string, url: string) => t.rt.knex('images').where({ session_id: sessionId, url }).first();
  const del = (id: number) => fetch(`${base}/api/images/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } }).then((r) => r.json());

  /** Holds the next `put` after it has written (or found) the file, until released. */
  const holdNextPut = () => {
    const writer = t.rt.storeWriter;
    const original = writer.put.bind(writer);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atHold = new Promise<void>((r) => (reached = r));
    writer.put = async (body, ext) => {
      writer.put = original;
      const stored = await original(body, ext);
      reached();
      await released;
      return stored;
    };
    return { atHold, release };
  };

  it('never leaves a stored row without its file: the store notices and stores it again', async () => {
    const image = factory.image('png', randomInt(2 ** 40)); // bytes of our own: the test database is shared
    const [s1, s2] = [await newSession(), await newSession()];
    await ingestImage(t.rt, { sessionId: s1, url: 'http://site.test/one.png', pageUrl: null, via: 'img' }, fetched(image.body));
    const first = await row(s1, 'http://site.test/one.png');
    expect(first.status).to.equal('stored');

    // A second URL with the same bytes: its put finds the file there; the DELETE of the first row runs before it records.
    const hold = holdNextPut();
    const origin = { sessionId: s2, url: 'http://site.test/two.png', pageUrl: null, via: 'img' };
    const second = ingestImage(t.rt, origin, fetched(image.body));
    await hold.atHold;
    expect(await del(first.id)).to.deep.equal({ deleted: true, id: first.id, fileRemoved: true });
    hold.release();

    const err = await second.then(
      () => null,
      (e: unknown) => e,
    );
    // Either way no row may say stored while its file is missing.
    const after = await row(s2, origin.url);
    if (after.status === 'stored') expect(await t.rt.store.has(after.file_path), `file of a stored row: ${after.file_path}`).to.equal(true);
    expect(err, 'the store of the second URL reports the lost file').to.be.instanceOf(StorageError);
    expect(after.status, 'the row is back to pending, for the retry').to.equal('pending');

    // The retry (BullMQ runs the job again) stores the file anew.
    await ingestImage(t.rt, origin, fetched(image.body));
    const retried = await row(s2, origin.url);
    expect(retried.status).to.equal('stored');
    expect(await t.rt.store.check(retried.file_path, retried.file_size)).to.equal('ok');
  });

  it('keeps the file when a row using it is recorded while the DELETE runs', async () => {
    const image = factory.image('png', randomInt(2 ** 40));
    const s1 = await newSession();
    await ingestImage(t.rt, { sessionId: s1, url: 'http://site.test/three.png', pageUrl: null, via: 'img' }, fetched(image.body));
    const first = await row(s1, 'http://site.test/three.png');
    const name = first.file_path as string;
    // The file is moved aside first, then the rows are checked: one appeared meanwhile, so it is put back.
    const removed = await t.rt.store.removeUnlessUsed(name, async () => true);
    expect(removed).to.equal(false);
    expect(await t.rt.store.check(name, first.file_size)).to.equal('ok');
    expect((await t.rt.store.inventory()).has(name)).to.equal(true);
    expect(await t.rt.store.removeUnlessUsed(name, async () => false)).to.equal(true);
    expect(await t.rt.store.has(name)).to.equal(false);
    expect([...(await t.rt.store.inventory())].filter((f) => f.includes(first.sha256))).to.deep.equal([]);
  });

  it('a DELETE whose process died with the file set aside: the consistency check puts it back for the row that uses it', async () => {
    const image = factory.image('png', randomInt(2 ** 40));
    const s1 = await newSession();
    await ingestImage(t.rt, { sessionId: s1, url: 'http://site.test/four.png', pageUrl: null, via: 'img' }, fetched(image.body));
    const stored = await row(s1, 'http://site.test/four.png');
    const name = stored.file_path as string;
    // Set aside, then the process "dies" before the database answers whether a row uses it.
    void t.rt.store.removeUnlessUsed(name, () => new Promise<boolean>(() => undefined));
    await waitFor('the file set aside', async () => !(await t.rt.store.has(name)));
    t.rt.fileSync.setAsideGraceMs = 0; // the removal is long over
    const report = await t.rt.fileSync.audit(true);
    expect(report.setAside).to.deep.equal({ restored: 1, dropped: 0 });
    expect(report.missing, 'not missing: it is back').to.not.include(name.split('/').pop());
    expect(await t.rt.store.check(name, stored.file_size)).to.equal('ok');
  });
});
