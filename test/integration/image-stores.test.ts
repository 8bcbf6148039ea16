import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { ContentStore, CorruptTransferError } from '../../src/storage/content-store';
import { FileStore, ImageStore, readStored } from '../../src/storage/image-store';
import { S3Store } from '../../src/storage/s3-store';
import { StagedStore } from '../../src/storage/staged-store';
import { openImageStore } from '../../src/storage/open-store';
import { loadPlugins } from '../../src/plugins/load-plugins';
import { RunningS3, startS3Server } from '../support/s3-server';
import { tempDir, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * The promises every storage back-end keeps, checked against each: the local directory and an
 * S3 bucket on a real S3 API server (s3rver) through the real AWS SDK.
 */
const backends: {
  name: string;
  /** Keeps a file being removed somewhere until the removal ends (a crash can leave it there). */
  setsAside: boolean;
  open(): Promise<{ store: ImageStore; damage(relative: string, bytes: Buffer): Promise<void>; close(): Promise<void> }>;
}[] = [
  {
    name: 'local directory',
    setsAside: true,
    async open() {
      const store = new ContentStore(tempDir('store'));
      const fs = await import('node:fs/promises');
      return { store, damage: (relative, bytes) => fs.writeFile(store.absolutePath(relative), bytes), close: async () => undefined };
    },
  },
  {
    name: 'S3 bucket',
    setsAside: true,
    async open() {
      const server: RunningS3 = await startS3Server();
      const settings = { bucket: server.bucket, prefix: 'crawl/', endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: KEYS };
      const store = new StagedStore(new S3Store(settings), tempDir('staging'));
      const raw = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true, credentials: KEYS });
      return {
        store,
        // Another tool overwrote the object: what a consistency check must notice.
        damage: async (relative, bytes) => void (await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: `crawl/${relative}`, Body: bytes }))),
        close: async () => {
          await store.close();
          raw.destroy();
          await server.close();
        },
      };
    },
  },
  {
    name: 'store offered by a plugin (storage.backend: plugin)',
    setsAside: false,
    async open() {
      const config = testConfig({ storage: { backend: 'plugin' }, plugins: [{ module: path.join(__dirname, '../fixtures/plugins/memory-store.mjs'), options: { name: 'contract' } }] });
      const plugins = await loadPlugins(config);
      const { store } = openImageStore(config, plugins);
      const files = plugins.imageStores[0].store as FileStore & { overwrite(relative: string, body: Buffer): void };
      return { store, damage: async (relative, bytes) => files.overwrite(relative, bytes), close: () => plugins.close() };
    },
  },
];

for (const backend of backends) {
  describe(`image store: ${backend.name}`, () => {
    let env: Awaited<ReturnType<(typeof backend)['open']>>;
    before(async () => {
      env = await backend.open();
    });
    after(() => env.close());

    it('stores content under its hash once, reads it back whole and from an offset, and lists it', async () => {
      const body = randomBytes(70_000);
      const first = await env.store.put(sha(body), 'jpg', body);
      const again = await env.store.put(sha(body), 'jpg', body);
      expect(first).to.deep.equal({ relativePath: `${sha(body).slice(0, 2)}/${sha(body).slice(2, 4)}/${sha(body)}.jpg`, created: true });
      expect(again.created).to.equal(false);
      expect(await env.store.has(first.relativePath)).to.equal(true);
      expect(await env.store.size(first.relativePath)).to.equal(body.length);
      expect((await readStored(env.store, first.relativePath)).equals(body)).to.equal(true);
      expect((await readStored(env.store, first.relativePath, 1000)).equals(body.subarray(1000))).to.equal(true);
      expect(await env.store.inventory()).to.include(first.relativePath);
      expect(await env.store.check(first.relativePath, body.length)).to.equal('ok');
    });

    it('reports a missing file and one whose bytes no longer match its name; a put of the right bytes mends a wrong length', async () => {
      const body = randomBytes(5_000);
      const { relativePath } = await env.store.put(sha(body), 'png', body);
      const gone = ContentStore.relativePath(sha(randomBytes(8)), 'png');
      expect(await env.store.check(gone, null)).to.equal('missing');
      expect(await env.store.has(gone)).to.equal(false);
      expect(await env.store.size(gone)).to.equal(null);
      await env.damage(relativePath, Buffer.from(body).fill(7, 0, 10)); // same length, other bytes
      expect(await env.store.check(relativePath, body.length, 'size')).to.equal('ok');
      expect(await env.store.check(relativePath, body.length)).to.equal('corrupt');
      await env.damage(relativePath, body.subarray(0, 100)); // cut short
      expect(await env.store.check(relativePath, body.length, 'size')).to.equal('corrupt');
      expect((await env.store.put(sha(body), 'png', body)).created).to.equal(true);
      expect(await env.store.check(relativePath, body.length)).to.equal('ok');
    });

    it('removes a file only when no row uses it, and keeps it when one appeared meanwhile', async () => {
      const body = randomBytes(3_000);
      const { relativePath } = await env.store.put(sha(body), 'gif', body);
      expect(await env.store.removeUnlessUsed(relativePath, async () => true)).to.equal(false);
      expect(await env.store.check(relativePath, body.length)).to.equal('ok');
      expect(await env.store.removeUnlessUsed(relativePath, async () => false)).to.equal(true);
      expect(await env.store.has(relativePath)).to.equal(false);
      expect(await env.store.removeUnlessUsed(relativePath, async () => false)).to.equal(false);
      expect([...(await env.store.inventory())].some((f) => f.includes(sha(body)))).to.equal(false);
    });

    // A plugin's in-memory store keeps nothing aside (a crash takes it all).
    if (backend.setsAside) it('settles a removal its process died in: the file comes back when a row uses its name, else it goes', async () => {
      const [kept, dropped] = [randomBytes(2_000), randomBytes(2_000)];
      const used = (await env.store.put(sha(kept), 'png', kept)).relativePath;
      const unused = (await env.store.put(sha(dropped), 'png', dropped)).relativePath;
      // The process "dies" while it asks the database: the question is never answered.
      for (const rel of [used, unused]) void env.store.removeUnlessUsed(rel, () => new Promise<boolean>(() => undefined));
      await waitFor('both files set aside', async () => !(await env.store.has(used)) && !(await env.store.has(unused)));
      const stillUsed = (rel: string) => rel === used;
      expect(await env.store.settleSetAside?.(60_000, stillUsed), 'a removal under way is left alone').to.deep.equal({ restored: 0, dropped: 0 });
      expect(await env.store.settleSetAside?.(0, stillUsed)).to.deep.equal({ restored: 1, dropped: 1 });
      expect((await readStored(env.store, used)).equals(kept)).to.equal(true);
      expect(await env.store.has(unused)).to.equal(false);
      expect(await env.store.settleSetAside?.(0, stillUsed), 'nothing is left set aside').to.deep.equal({ restored: 0, dropped: 0 });
    });

    it('assembles a file sent in chunks, resumes where it stopped, and refuses bytes that do not hash to the name', async () => {
      const body = randomBytes(40_000);
      const name = ContentStore.parseName(`${sha(body)}.webp`);
      expect(await env.store.appendPartial(name, 0, Readable.from([body.subarray(0, 15_000)]), 1e6)).to.equal(15_000);
      expect(await env.store.partialSize(name)).to.equal(15_000);
      expect(await env.store.has(name.relativePath)).to.equal(false);
      expect(await env.store.appendPartial(name, 15_000, Readable.from([body.subarray(15_000)]), 1e6)).to.equal(40_000);
      await env.store.commitPartial(name);
      expect(await env.store.check(name.relativePath, body.length)).to.equal('ok');
      expect(await env.store.partialStats()).to.deep.equal({ count: 0, bytes: 0 });

      const other = ContentStore.parseName(`${sha(randomBytes(9))}.webp`);
      await env.store.appendPartial(other, 0, Readable.from([randomBytes(2_000)]), 1e6);
      let refused: unknown = null;
      await env.store.commitPartial(other).catch((err) => (refused = err));
      expect(refused).to.be.instanceOf(CorruptTransferError);
      expect(await env.store.has(other.relativePath)).to.equal(false);
      expect(await env.store.partialSize(other)).to.equal(0);
    });
  });
}
