/**
 * Format, dimensions and frame count read straight from an image's header bytes, without
 * decoding anything: the fast path of image inspection. It covers what a crawl meets almost
 * every time (JPEG, PNG/APNG, GIF, WebP) plus ICO and BMP, which libvips cannot read. Anything
 * else, or a header these parsers find malformed, returns null and goes to sharp, which then
 * reads it or explains why it is not an image.
 *
 * Why not sharp for everything: its metadata call costs ~80 µs of main-thread time per image
 * (the options object is copied into C++), more than hashing the image; these parsers cost a
 * few µs (measured with `npm run bench`).
 */

export interface HeaderInfo {
  /** As sharp names formats: jpeg, png, gif, webp, ico, bmp. */
  format: string;
  width: number;
  height: number;
  /** Frames of an animation (1 for a still image); the pixel budget counts every frame. */
  frames: number;
  /**
   * Pixels a decoder works through when frames carry sizes of their own (GIF: each image
   * descriptor's width × height, which may far exceed the logical screen); width × height ×
   * frames otherwise.
   */
  pixels?: number;
  /** The largest frame, when it is larger than the image (for the message of a refused one). */
  largestFrame?: { width: number; height: number };
}

export function readImageHeader(b: Buffer): HeaderInfo | null {
  if (b.length < 12) return null;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpeg(b);
  if (b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return png(b);
  if (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a') return gif(b);
  if (b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return webp(b);
  return ico(b) ?? bmp(b);
}

/** Walks the marker segments to the first start-of-frame (SOF0–SOF15 but DHT, JPG, DAC). */
function jpeg(b: Buffer): HeaderInfo | null {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image or scan data before any frame header
    const length = b.readUInt16BE(i + 2);
    if (length < 2) return null;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > b.length || length < 7) return null;
      return { format: 'jpeg', height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), frames: 1 };
    }
    i += 2 + length;
  }
  return null;
}

/** IHDR must come first; an APNG's acTL (before IDAT) gives its frame count. */
function png(b: Buffer): HeaderInfo | null {
  if (b.length < 33 || b.toString('latin1', 12, 16) !== 'IHDR' || b.readUInt32BE(8) !== 13) return null;
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  let frames = 1;
  for (let i = 33; i + 12 <= b.length; ) {
    const length = b.readUInt32BE(i);
    const type = b.toString('latin1', i + 4, i + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'acTL' && length >= 8 && i + 12 <= b.length) {
      frames = Math.max(1, b.readUInt32BE(i + 8));
      break;
    }
    i += 12 + length;
  }
  return { format: 'png', width, height, frames };
}

/** The logical screen, and every image descriptor counted by walking the block structure. */
function gif(b: Buffer): HeaderInfo | null {
  const width = b.readUInt16LE(6);
  const height = b.readUInt16LE(8);
  const flags = b[10];
  let i = 13 + (flags & 0x80 ? 3 * (2 << (flags & 7)) : 0);
  let frames = 0;
  let framePixels = 0;
  let largest = { width: 0, height: 0 };
  const result = (): HeaderInfo => {
    const info: HeaderInfo = { format: 'gif', width, height, frames, pixels: Math.max(width * height * frames, framePixels) };
    if (largest.width * largest.height > width * height) info.largestFrame = largest;
    return info;
  };
  const skipSubBlocks = (at: number): number => {
    while (at < b.length && b[at] !== 0) at += b[at] + 1;
    return at < b.length ? at + 1 : -1;
  };
  while (i < b.length) {
    const block = b[i];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      i = skipSubBlocks(i + 2); // extension: introducer, label, data sub-blocks
    } else if (block === 0x2c) {
      if (i + 10 > b.length) return null;
      frames++;
      // Each frame's own size (a 1×1 screen may carry a 65535×65535 frame: a decompression bomb).
      const fw = b.readUInt16LE(i + 5);
      const fh = b.readUInt16LE(i + 7);
      framePixels += fw * fh;
      if (fw * fh > largest.width * largest.height) largest = { width: fw, height: fh };
      const local = b[i + 9];
      i += 10 + (local & 0x80 ? 3 * (2 << (local & 7)) : 0);
      i = skipSubBlocks(i + 1); // LZW minimum code size, then image data
    } else {
      return null;
    }
    if (i < 0) return frames > 0 ? result() : null; // truncated after a frame: as browsers do, show what came
  }
  return frames > 0 ? result() : null;
}

/** VP8 (lossy), VP8L (lossless) or VP8X (extended: canvas size, ANMF frames). */
function webp(b: Buffer): HeaderInfo | null {
  if (b.length < 30) return null;
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return null; // key frame start code
    return { format: 'webp', width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff, frames: 1 };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return null;
    const bits = b.readUInt32LE(21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1, frames: 1 };
  }
  if (chunk === 'VP8X') {
    const width = b.readUIntLE(24, 3) + 1;
    const height = b.readUIntLE(27, 3) + 1;
    let frames = 0;
    if (b[20] & 0x02) {
      for (let i = 30; i + 8 <= b.length; ) {
        if (b.toString('latin1', i, i + 4) === 'ANMF') frames++;
        const size = b.readUInt32LE(i + 4);
        i += 8 + size + (size & 1);
      }
    }
    return { format: 'webp', width, height, frames: Math.max(1, frames) };
  }
  return null;
}

/** ICO: reserved 0, type 1, count ≥ 1; the largest entry (0 means 256). */
function ico(b: Buffer): HeaderInfo | null {
  if (b.length < 22 || b.readUInt16LE(0) !== 0 || b.readUInt16LE(2) !== 1) return null;
  const count = b.readUInt16LE(4);
  if (count === 0 || b.length < 6 + 16 * count) return null;
  let width = 0;
  let height = 0;
  for (let i = 0; i < count; i++) {
    const w = b[6 + 16 * i] || 256;
    const h = b[7 + 16 * i] || 256;
    if (w * h > width * height) [width, height] = [w, h];
  }
  return { format: 'ico', width, height, frames: 1 };
}

/** BMP: "BM", then a BITMAPINFOHEADER (or larger) with signed width and height. */
function bmp(b: Buffer): HeaderInfo | null {
  if (b.length < 26 || b[0] !== 0x42 || b[1] !== 0x4d || b.readUInt32LE(14) < 40) return null;
  return { format: 'bmp', width: Math.abs(b.readInt32LE(18)), height: Math.abs(b.readInt32LE(22)), frames: 1 };
}
