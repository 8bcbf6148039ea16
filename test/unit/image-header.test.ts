import { expect } from 'chai';
import sharp from 'sharp';
import { readImageHeader } from '../../src/storage/image-header';
import { inspectImage } from '../../src/storage/image-inspector';

/** What sharp says of the same bytes: the reference the fast path must agree with. */
async function sharpSays(body: Buffer) {
  const m = await sharp(body, { pages: -1 }).metadata();
  return { format: m.format, width: m.width, height: m.pageHeight ?? m.height, frames: m.pages ?? 1 };
}

describe('image headers read without decoding', () => {
  const still = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#7a3' } });

  it('agrees with sharp on JPEG (baseline, progressive, with EXIF), PNG, GIF and WebP (lossy, lossless, alpha)', async () => {
    const bodies = [
      await still(123, 45).jpeg().toBuffer(),
      await still(77, 300).jpeg({ progressive: true }).withMetadata({ exif: { IFD0: { Copyright: 'x' } } }).toBuffer(),
      await still(640, 1).png().toBuffer(),
      await still(31, 17).gif().toBuffer(),
      await still(500, 301).webp().toBuffer(),
      await still(16383, 2).webp({ lossless: true }).toBuffer(),
      await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.5 } } }).webp().toBuffer(),
    ];
    for (const body of bodies) {
      const header = readImageHeader(body);
      expect(header, (await sharpSays(body)).format).to.deep.include(await sharpSays(body));
    }
  });

  it('counts the frames of animated GIF and WebP as sharp does', async () => {
    const frames = await Promise.all(
      Array.from({ length: 7 }, (_, i) => sharp({ create: { width: 60, height: 50, channels: 3, background: { r: i * 30, g: 90, b: 200 - i * 20 } } }).png().toBuffer()),
    );
    for (const anim of [await sharp(frames, { join: { animated: true } }).gif().toBuffer(), await sharp(frames, { join: { animated: true } }).webp().toBuffer()]) {
      expect(readImageHeader(anim)).to.deep.include(await sharpSays(anim));
      expect(readImageHeader(anim)?.frames).to.equal(7);
    }
  });

  it('counts each GIF frame at its own size: a 1×1 screen carrying a 65535×65535 frame is refused', async () => {
    const bomb = Buffer.concat([
      Buffer.from('GIF89a', 'latin1'),
      Buffer.from([1, 0, 1, 0, 0x00, 0, 0]), // logical screen 1×1, no colour table
      Buffer.from([0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00]), // image descriptor 65535×65535
      Buffer.from([2, 2, 0x4c, 0x01, 0, 0x3b]),
    ]);
    expect(readImageHeader(bomb)).to.deep.include({ width: 1, height: 1, frames: 1, pixels: 65535 * 65535, largestFrame: { width: 65535, height: 65535 } });
    const err = await inspectImage(bomb, 100_000_000).catch((e: Error) => e);
    expect((err as Error).message).to.equal('1x1 gif, a frame of 65535x65535: 4294836225 pixels exceed the 100000000-pixel limit (decompression bomb guard)');
    // An ordinary animation: frames within the screen count as screen × frames.
    const anim = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#123' } }).gif().toBuffer();
    expect(readImageHeader(anim)?.pixels).to.equal(48);
  });

  it('refuses a JPEG or PNG that ends early, saying so', async () => {
    const jpeg = await still(64, 64).jpeg().toBuffer();
    const png = await still(64, 64).png().toBuffer();
    expect(((await inspectImage(jpeg.subarray(0, jpeg.length - 40), 1e8).catch((e: Error) => e)) as Error).message).to.match(/^truncated jpeg: no end-of-image marker/);
    expect(((await inspectImage(png.subarray(0, png.length - 12), 1e8).catch((e: Error) => e)) as Error).message).to.match(/^truncated png: no IEND chunk/);
    expect(await inspectImage(jpeg, 1e8)).to.include({ format: 'jpeg', width: 64 });
  });

  it('reads an APNG frame count from acTL, ICO and BMP headers', () => {
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(20, 0);
    ihdr.writeUInt32BE(10, 4);
    const actl = Buffer.alloc(8);
    actl.writeUInt32BE(12, 0);
    const apng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('acTL', actl), chunk('IDAT', Buffer.alloc(3))]);
    expect(readImageHeader(apng)).to.deep.equal({ format: 'png', width: 20, height: 10, frames: 12 });

    const icoBody = Buffer.alloc(6 + 32);
    icoBody.writeUInt16LE(1, 2);
    icoBody.writeUInt16LE(2, 4);
    icoBody[6] = 16;
    icoBody[7] = 16;
    icoBody[22] = 0; // 256
    icoBody[23] = 0;
    expect(readImageHeader(icoBody)).to.deep.equal({ format: 'ico', width: 256, height: 256, frames: 1 });

    const bmpBody = Buffer.alloc(54);
    bmpBody.write('BM', 0, 'latin1');
    bmpBody.writeUInt32LE(40, 14);
    bmpBody.writeInt32LE(33, 18);
    bmpBody.writeInt32LE(-44, 22); // top-down
    expect(readImageHeader(bmpBody)).to.deep.equal({ format: 'bmp', width: 33, height: 44, frames: 1 });
  });

  it('leaves to sharp what it cannot vouch for: other formats, truncated or malformed headers, non-images', async () => {
    const jpeg = await still(10, 10).jpeg().toBuffer();
    const candidates = [
      await still(10, 10).avif().toBuffer(),
      await still(10, 10).tiff().toBuffer(),
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"/>'),
      jpeg.subarray(0, 20), // cut before the frame header
      Buffer.concat([jpeg.subarray(0, 2), Buffer.from('garbage that is not a marker')]),
      Buffer.from('GIF89a\x0a\x00\x0a\x00\x00\x00\x00', 'latin1'), // a screen, no frame
      Buffer.from('RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00garbage-garbage-garbage', 'latin1'),
      Buffer.from('<html><body>not an image</body></html>'),
      Buffer.alloc(0),
    ];
    for (const body of candidates) expect(readImageHeader(body), body.subarray(0, 12).toString('latin1')).to.equal(null);
  });
});
