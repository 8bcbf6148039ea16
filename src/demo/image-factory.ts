import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import sharp from 'sharp';

/**
 * Makes test and benchmark images quickly: a small pool of noise images per format is encoded
 * once with sharp, and any number of distinct images is derived from it by inserting a unique
 * comment/metadata chunk (valid for every decoder), so hashes differ while dimensions are known.
 */

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif';
export const IMAGE_FORMATS: ImageFormat[] = ['jpeg', 'png', 'webp', 'gif'];
export const CONTENT_TYPES: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
};
export const EXTENSIONS: Record<ImageFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif' };

export interface GeneratedImage {
  format: ImageFormat;
  width: number;
  height: number;
  body: Buffer;
  sha256: string;
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ImageFactory {
  private pool = new Map<ImageFormat, GeneratedImage[]>();

  /** Encodes `perFormat` noise images per format whose sizes land roughly in [minBytes, maxBytes]. */
  static async create(opts: { perFormat: number; minBytes: number; maxBytes: number; seed: number }): Promise<ImageFactory> {
    const f = new ImageFactory();
    const rand = prng(opts.seed);
    for (const format of IMAGE_FORMATS) {
      const list: GeneratedImage[] = [];
      for (let i = 0; i < opts.perFormat; i++) {
        const target = opts.minBytes + rand() * (opts.maxBytes - opts.minBytes);
        list.push(await encodeNoise(format, target, rand));
      }
      f.pool.set(format, list);
    }
    return f;
  }

  /** Image number `id` of `format`: distinct bytes for every id, stable across runs. */
  image(format: ImageFormat, id: number): GeneratedImage {
    const pool = this.pool.get(format) as GeneratedImage[];
    const base = pool[id % pool.length];
    const body = withMarker(base, `image-crawler test image ${id}`);
    return { ...base, body, sha256: createHash('sha256').update(body).digest('hex') };
  }
}

async function encodeNoise(format: ImageFormat, targetBytes: number, rand: () => number): Promise<GeneratedImage> {
  // Noise barely compresses: about 1 byte per pixel for JPEG/WebP at q≈80, 3 for PNG, ~1 for GIF.
  const perPixel = format === 'png' ? 3 : 1;
  const side = Math.max(16, Math.round(Math.sqrt(targetBytes / perPixel)));
  const width = side + Math.floor(rand() * 8);
  const height = side;
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  const body = await (format === 'jpeg' ? img.jpeg({ quality: 80 }) : format === 'png' ? img.png() : format === 'webp' ? img.webp({ quality: 80 }) : img.gif()).toBuffer();
  return { format, width, height, body, sha256: createHash('sha256').update(body).digest('hex') };
}

function withMarker(img: GeneratedImage, marker: string): Buffer {
  const text = Buffer.from(marker, 'latin1');
  const b = img.body;
  switch (img.format) {
    case 'jpeg': {
      // COM segment right after SOI.
      const seg = Buffer.alloc(4);
      seg.writeUInt16BE(0xfffe, 0);
      seg.writeUInt16BE(text.length + 2, 2);
      return Buffer.concat([b.subarray(0, 2), seg, text, b.subarray(2)]);
    }
    case 'png': {
      // tEXt chunk before IEND.
      const data = Buffer.concat([Buffer.from('tEXtComment\0', 'latin1'), text]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length - 4);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(data));
      const iend = b.length - 12;
      return Buffer.concat([b.subarray(0, iend), len, data, crc, b.subarray(iend)]);
    }
    case 'gif': {
      // Comment extension before the trailer.
      const body = text.subarray(0, 255);
      return Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([0x21, 0xfe, body.length]), body, Buffer.from([0, 0x3b])]);
    }
    case 'webp': {
      // An unknown RIFF chunk at the end; the RIFF size is fixed up.
      const head = Buffer.alloc(8);
      head.write('XTRA', 0, 'latin1');
      head.writeUInt32LE(text.length, 4);
      const out = Buffer.concat([b, head, text, Buffer.alloc(text.length % 2)]);
      out.writeUInt32LE(out.length - 8, 4);
      return out;
    }
  }
}
