import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect } from 'chai';
import sharp from 'sharp';
import { CrawlerError, InvalidImageError, StorageError } from '../../src/errors';
import { Readable } from 'node:stream';
import { ContentStore, CorruptTransferError, OffsetMismatchError } from '../../src/storage/content-store';
import { inspectImage } from '../../src/storage/image-inspector';
import { StoreWriter } from '../../src/storage/store-writer';
import { tempDir } from '../support/test-env';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A PNG whose header claims width × height; the pixel data is a token few bytes. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('image inspection', () => {
  it('reads format and dimensions of real images', async () => {
    for (const format of ['jpeg', 'png', 'webp', 'gif', 'avif'] as const) {
      const body = await sharp({ create: { width: 33, height: 21, channels: 3, background: '#3a7' } }).toFormat(format).toBuffer();
      const info = await inspectImage(body, 1e6);
      expect(info, format).to.include({ format, width: 33, height: 21, bytes: body.length });
    }
  });

  it('reads SVG, ICO and BMP', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>');
    expect(await inspectImage(svg, 1e6)).to.include({ format: 'svg', width: 40, height: 30 });
    const ico = Buffer.alloc(22 + 40);
    ico.writeUInt16LE(1, 2);
    ico.writeUInt16LE(1, 4);
    ico[6] = 0; // 256
    ico[7] = 48;
    expect(await inspectImage(ico, 1e6)).to.include({ format: 'ico', width: 256, height: 48, ext: 'ico' });
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(12, 18);
    bmp.writeInt32LE(-9, 22);
    expect(await inspectImage(bmp, 1e6)).to.include({ format: 'bmp', width: 12, height: 9 });
  });

  it('rejects a decompression bomb from its header, before decoding', async () => {
    const bomb = pngClaiming(100_000, 100_000);
    expect(bomb.length).to.be.below(2000);
    const err = await inspectImage(bomb, 100_000_000).catch((e) => e);
    expect(err).to.be.instanceOf(InvalidImageError);
    expect(err.message).to.match(/pixel limit|decompression bomb/);
  });

  it('counts every frame of an animation against the pixel budget', async () => {
    const frames = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sharp({ create: { width: 100, height: 100, channels: 4, background: { r: i * 10, g: 0, b: 0, alpha: 1 } } }).png().toBuffer()),
    );
    const anim = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
    expect(await inspectImage(anim, 1e6)).to.include({ format: 'gif', width: 100, height: 100 });
    const err = await inspectImage(anim, 150_000).catch((e) => e); // one frame fits, twenty do not
    expect(err).to.be.instanceOf(InvalidImageError);
    expect(err.message).to.contain('100x100x20');
  });

  it('rejects bodies that are not images, saying what they were', async () => {
    for (const body of [Buffer.from('<html>hello</html>'), Buffer.alloc(0), Buffer.from('GIF89a')]) {
      const err = await inspectImage(body, 1e6).catch((e) => e);
      expect(err).to.be.instanceOf(InvalidImageError);
    }
  });
});

describe('content-addressed store', () => {
  const dir = () => tempDir('store');

  it('syncs the directory after the rename (and the parents of new directories), so a stored file survives a power loss', async () => {
    const root = dir();
    const store = new ContentStore(root);
    // Which paths were fsynced: node's fs is wrapped for this test only, the disk is real.
    const opened = new Map<number, string>();
    const synced: string[] = [];
    const { open, fsync } = fs;
    (fs as { open: unknown }).open = (p: string, ...rest: unknown[]) => {
      const cb = rest[rest.length - 1] as (err: Error | null, fd: number) => void;
      return (open as (...a: unknown[]) => void)(p, ...rest.slice(0, -1), (err: Error | null, fd: number) => {
        if (!err) opened.set(fd, String(p));
        cb(err, fd);
      });
    };
    (fs as { fsync: unknown }).fsync = (fd: number, cb: (err: Error | null) => void) => {
      synced.push(opened.get(fd) ?? '?');
      return fsync(fd, cb);
    };
    try {
      const body = Buffer.from('some image bytes');
      const sha = createHash('sha256').update(body).digest('hex');
      const { relativePath } = await store.put(sha, 'png', body);
      const shard = path.dirname(store.absolutePath(relativePath));
      expect(synced).to.include(shard); // the rename's directory
      expect(synced).to.include(path.dirname(shard)); // the new shard's parent
      expect(synced).to.include(path.join(root, 'images')); // …and its parent
      expect(synced.some((p) => p.includes('.tmp-'))).to.equal(true); // the file itself, before the rename
    } finally {
      (fs as { open: unknown }).open = open;
      (fs as { fsync: unknown }).fsync = fsync;
    }
  });

  it('derives the path from the hash only and writes once', async () => {
    const store = new ContentStore(dir());
    const body = Buffer.from('image bytes');
    const h = sha(body);
    const first = await store.put(h, 'png', body);
    expect(first).to.deep.equal({ relativePath: path.join(h.slice(0, 2), h.slice(2, 4), `${h}.png`), created: true });
    expect(fs.readFileSync(store.absolutePath(first.relativePath)).equals(body)).to.equal(true);
    expect((await store.put(h, 'png', body)).created).to.equal(false);
  });

  it('survives many concurrent writers of the same content: one intact file, no temp files', async () => {
    const store = new ContentStore(dir());
    const body = Buffer.alloc(100_000, 7);
    const results = await Promise.all(Array.from({ length: 12 }, () => store.put(sha(body), 'jpg', body)));
    expect(new Set(results.map((r) => r.relativePath)).size).to.equal(1);
    const folder = path.dirname(store.absolutePath(results[0].relativePath));
    expect(fs.readdirSync(folder)).to.deep.equal([`${sha(body)}.jpg`]);
    expect(fs.readFileSync(store.absolutePath(results[0].relativePath)).equals(body)).to.equal(true);
    expect((await store.put(sha(body), 'jpg', body)).created).to.equal(false);
  });

  it('replaces a damaged file', async () => {
    const store = new ContentStore(dir());
    const body = Buffer.from('the real content');
    const { relativePath } = await store.put(sha(body), 'gif', body);
    fs.writeFileSync(store.absolutePath(relativePath), 'trunc');
    expect((await store.put(sha(body), 'gif', body)).created).to.equal(true);
    expect(fs.readFileSync(store.absolutePath(relativePath)).equals(body)).to.equal(true);
  });

  it('refuses names that are not a hash and paths outside the store', () => {
    expect(() => ContentStore.relativePath('../../etc/passwd', 'png')).to.throw(/sha256/);
    expect(() => ContentStore.relativePath('a'.repeat(64), 'p/ng')).to.throw(/extension/);
    expect(() => new ContentStore(dir()).absolutePath('../../x')).to.throw(/escapes/);
  });

  it('receives a file in chunks: resumes at the partial end, refuses a wrong offset or wrong bytes', async () => {
    const store = new ContentStore(dir(), false);
    const body = Buffer.from('some image bytes, in three chunks');
    const sha = createHash('sha256').update(body).digest('hex');
    const name = ContentStore.parseName(`${sha}.png`);
    expect(await store.appendPartial(name, 0, Readable.from([body.subarray(0, 10)]), body.length)).to.equal(10);
    expect(await store.partialSize(name)).to.equal(10);
    const wrong = await store.appendPartial(name, 4, Readable.from([body.subarray(4, 20)]), body.length).catch((e) => e);
    expect(wrong).to.be.instanceOf(OffsetMismatchError).and.have.property('expected', 10);
    const tooMuch = await store.appendPartial(name, 10, Readable.from([Buffer.alloc(body.length)]), body.length).catch((e) => e);
    expect(tooMuch).to.be.instanceOf(CorruptTransferError);
    await store.dropPartial(name);
    await store.appendPartial(name, 0, Readable.from([body.subarray(0, 20)]), body.length);
    await store.appendPartial(name, 20, Readable.from([body.subarray(20)]), body.length);
    await store.commitPartial(name);
    expect(fs.readFileSync(store.absolutePath(name.relativePath))).to.deep.equal(body);
    expect(await store.check(name.relativePath, body.length)).to.equal('ok');
    expect([...(await store.inventory())]).to.deep.equal([name.relativePath]);

    const liar = ContentStore.parseName(`${'0'.repeat(64)}.png`);
    await store.appendPartial(liar, 0, Readable.from([body]), body.length);
    expect(await store.commitPartial(liar).catch((e) => e)).to.be.instanceOf(CorruptTransferError);
    expect(await store.partialSize(liar)).to.equal(0);
    expect(await store.has(liar.relativePath)).to.equal(false);
  });

  it('tells a missing, a damaged and a sound file apart; drops abandoned partial files', async () => {
    const store = new ContentStore(dir(), false);
    const body = Buffer.from('bytes');
    const sha = createHash('sha256').update(body).digest('hex');
    const { relativePath } = await store.put(sha, 'gif', body);
    expect(await store.check(relativePath, 5)).to.equal('ok');
    expect(await store.check(relativePath, 6)).to.equal('corrupt');
    fs.writeFileSync(store.absolutePath(relativePath), 'BYTES');
    expect(await store.check(relativePath, 5, 'size')).to.equal('ok');
    expect(await store.check(relativePath, 5, 'hash')).to.equal('corrupt');
    await store.remove(relativePath);
    expect(await store.check(relativePath, 5)).to.equal('missing');

    const old = ContentStore.parseName(`${'1'.repeat(64)}.png`);
    await store.appendPartial(old, 0, Readable.from([body]), 100);
    const file = path.join(store.root, '.partial', `${'1'.repeat(64)}.png`);
    fs.utimesSync(file, new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 2 * 86_400_000));
    expect(await store.dropStalePartials(86_400_000)).to.equal(1);
    expect(fs.existsSync(file)).to.equal(false);
  });
});


describe('store writer (hashing and writing on a worker thread)', () => {
  const dir = () => tempDir('writer');

  it('stores each body under its sha256, once, atomically, whether its memory moves to the thread or is copied', async () => {
    const root = dir();
    const writer = new StoreWriter(root, true);
    try {
      const big = Buffer.from(Buffer.alloc(50_000, 7)); // owns its memory: handed over
      const small = Buffer.from('tiny'); // a slice of the shared pool: copied
      const bigSha = sha(big);
      const smallSha = sha(small);
      const results = await Promise.all([writer.put(big, 'png'), writer.put(small, 'gif'), writer.put(Buffer.alloc(50_000, 7), 'png')]);
      expect(results.map((r) => r.sha256)).to.deep.equal([bigSha, smallSha, bigSha]);
      expect(results[0].relativePath).to.equal(path.join(bigSha.slice(0, 2), bigSha.slice(2, 4), `${bigSha}.png`));
      expect(results.filter((r) => r.created)).to.have.length(2); // the second copy of `big`, arriving together, is not
      expect((await writer.put(Buffer.from('tiny'), 'gif')).created).to.equal(false);
      const store = new ContentStore(root);
      expect(await store.check(results[0].relativePath, 50_000)).to.equal('ok');
      expect(fs.readFileSync(store.absolutePath(results[1].relativePath), 'utf8')).to.equal('tiny');
      const inventory = await store.inventory();
      expect([...inventory].sort()).to.deep.equal([results[0].relativePath, results[1].relativePath].sort());
    } finally {
      await writer.close();
    }
  });

  it('fails what a dying thread held with a StorageError (the job is postponed, not failed) and starts a new thread', async () => {
    const writer = new StoreWriter(dir(), false);
    try {
      await writer.put(Buffer.from('warm up'), 'png');
      const held = writer.put(Buffer.alloc(10_000, 1), 'png');
      await (writer as unknown as { current: { worker: { terminate(): Promise<number> } } }).current.worker.terminate();
      const err = await held.catch((e) => e);
      expect(err).to.be.instanceOf(StorageError);
      expect(err).not.to.be.instanceOf(CrawlerError);
      expect((await writer.put(Buffer.from('after'), 'png')).sha256).to.equal(sha(Buffer.from('after')));
    } finally {
      await writer.close();
    }
  });
});
