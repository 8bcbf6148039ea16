import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect } from 'chai';
import sharp from 'sharp';
import { InvalidImageError } from '../../src/errors';
import { ContentStore } from '../../src/storage/content-store';
import { inspectImage } from '../../src/storage/image-inspector';

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
  it('reads format and dimensions of real images and hashes them', async () => {
    for (const format of ['jpeg', 'png', 'webp', 'gif', 'avif'] as const) {
      const body = await sharp({ create: { width: 33, height: 21, channels: 3, background: '#3a7' } }).toFormat(format).toBuffer();
      const info = await inspectImage(body, 1e6);
      expect(info, format).to.include({ format, width: 33, height: 21, bytes: body.length, sha256: sha(body) });
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
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ic-store-'));

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
});
