import sharp from 'sharp';
import type { PluginFactory } from '../plugin-api';

/** Formats with pixels to hash (an SVG is drawn, not decoded: no phash). */
const RASTER = new Set(['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff', 'heif', 'bmp']);

/**
 * A 64-bit perceptual hash (pHash, below) of each stored raster image, as 16 hex digits in the
 * image's `phash`. Re-encoding and resizing barely move it; an unrelated picture
 * differs in about half its bits. `GET /api/images/:id/similar?maxDistance=N` compares them.
 */
export const createPhash: PluginFactory = ({ limits }) => ({
  async processImage(image) {
    if (!RASTER.has(image.format)) return undefined;
    return { phash: await perceptualHash(image.body, limits.maxImagePixels) };
  },
});

/** Side of the shrunk picture the DCT is taken of, and of the low-frequency block kept. */
const SIDE = 32;
const KEEP = 8;
/** cos((2x+1)uπ/2N) for the kept frequencies u, every x. */
const COS = Array.from({ length: KEEP }, (_, u) => Array.from({ length: SIDE }, (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * SIDE))));

/**
 * pHash of an image's first frame, as 16 hex digits: the picture shrunk to 32×32 grey pixels,
 * its 2-D DCT, and of the 8×8 lowest frequencies one bit each, set where the coefficient is above
 * their median (the DC term, the mean brightness, left out of the median).
 */
export async function perceptualHash(body: Buffer, maxPixels: number): Promise<string> {
  const px = await sharp(body, { limitInputPixels: maxPixels, failOn: 'none' })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(SIDE, SIDE, { fit: 'fill' })
    .raw()
    .toBuffer();
  // Rows first (SIDE × KEEP), then columns (KEEP × KEEP).
  const rows = new Float64Array(SIDE * KEEP);
  for (let y = 0; y < SIDE; y++) {
    for (let u = 0; u < KEEP; u++) {
      let sum = 0;
      for (let x = 0; x < SIDE; x++) sum += px[y * SIDE + x] * COS[u][x];
      rows[y * KEEP + u] = sum;
    }
  }
  const coef: number[] = [];
  for (let v = 0; v < KEEP; v++) {
    for (let u = 0; u < KEEP; u++) {
      let sum = 0;
      for (let y = 0; y < SIDE; y++) sum += rows[y * KEEP + u] * COS[v][y];
      coef.push(sum);
    }
  }
  const median = [...coef.slice(1)].sort((a, b) => a - b)[(coef.length - 1) >> 1];
  let bits = 0n;
  for (const c of coef) bits = (bits << 1n) | (c > median ? 1n : 0n);
  return bits.toString(16).padStart(16, '0');
}

/** Bits in which two 16-hex-digit hashes differ. */
export function hammingDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  for (; x > 0n; x >>= 1n) n += Number(x & 1n);
  return n;
}
