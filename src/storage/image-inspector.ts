import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { InvalidImageError } from '../errors';

/**
 * Decides whether a body really is an image and reads its size, without decoding pixels:
 * sharp reads the header, and the pixel budget (width × height × frames) is checked before
 * anything could be decompressed, which defuses decompression bombs. ICO and BMP, which libvips
 * does not read, get small header parsers of their own (favicons are mostly ICO).
 */

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
  sha256: string;
  bytes: number;
  /** File extension for the content store, derived from the detected format. */
  ext: string;
}

const EXTENSIONS: Record<string, string> = {
  jpeg: 'jpg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  svg: 'svg',
  avif: 'avif',
  heif: 'heic',
  tiff: 'tif',
  jp2: 'jp2',
  jxl: 'jxl',
  ico: 'ico',
  bmp: 'bmp',
};

const MIME_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
  jp2: 'image/jp2',
  jxl: 'image/jxl',
  ico: 'image/x-icon',
  bmp: 'image/bmp',
};

export function mimeTypeOf(format: string): string {
  return MIME_TYPES[format] ?? 'application/octet-stream';
}

sharp.cache(false); // we only read headers; libvips' operation cache would just hold memory

export async function inspectImage(body: Buffer, maxPixels: number, httpStatus = 0): Promise<ImageInfo> {
  if (body.length === 0) throw new InvalidImageError('empty body', httpStatus);
  const dims = headerDimensions(body) ?? (await sharpDimensions(body, httpStatus));
  const pixels = dims.width * dims.height * dims.frames;
  if (!(dims.width > 0 && dims.height > 0)) throw new InvalidImageError(`${dims.format} without dimensions`, httpStatus);
  if (pixels > maxPixels) {
    throw new InvalidImageError(
      `${dims.width}x${dims.height}${dims.frames > 1 ? `x${dims.frames}` : ''} ${dims.format} exceeds the ${maxPixels}-pixel limit (decompression bomb guard)`,
      httpStatus,
    );
  }
  const ext = EXTENSIONS[dims.format];
  if (!ext) throw new InvalidImageError(`unsupported image format ${dims.format}`, httpStatus);
  return {
    format: dims.format,
    width: dims.width,
    height: dims.height,
    sha256: createHash('sha256').update(body).digest('hex'),
    bytes: body.length,
    ext,
  };
}

interface Dimensions {
  format: string;
  width: number;
  height: number;
  frames: number;
}

async function sharpDimensions(body: Buffer, httpStatus: number): Promise<Dimensions> {
  try {
    // Header only: no pixels are decoded here, so the budget check below runs before any allocation.
    const meta = await sharp(body, { limitInputPixels: false, pages: -1 }).metadata();
    if (!meta.format) throw new Error('unknown format');
    // For animations sharp reports the height of all frames stacked; pageHeight is one frame.
    const frames = meta.pages ?? 1;
    const height = meta.pageHeight ?? meta.height ?? 0;
    return { format: meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format, width: meta.width ?? 0, height, frames };
  } catch (err) {
    throw new InvalidImageError(`not an image: ${(err as Error).message.split('\n')[0]}`, httpStatus);
  }
}

/** ICO and BMP headers, which libvips cannot read. */
function headerDimensions(b: Buffer): Dimensions | null {
  // ICO: reserved 0, type 1, count ≥ 1; take the largest entry (0 means 256).
  if (b.length >= 22 && b.readUInt16LE(0) === 0 && b.readUInt16LE(2) === 1) {
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
  // BMP: "BM", then a BITMAPINFOHEADER (or larger) with signed width/height.
  if (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d && b.readUInt32LE(14) >= 40) {
    return { format: 'bmp', width: Math.abs(b.readInt32LE(18)), height: Math.abs(b.readInt32LE(22)), frames: 1 };
  }
  return null;
}
