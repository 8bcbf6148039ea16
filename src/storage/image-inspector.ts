import sharp from 'sharp';
import { InvalidImageError } from '../errors';
import { HeaderInfo, readImageHeader } from './image-header';

/**
 * Decides whether a body really is an image and reads its size, without decoding pixels: the
 * header is read (by our own parsers for the common formats, see image-header.ts; by sharp for
 * the rest), and the pixel budget (width × height × frames) is checked before anything could
 * be decompressed, which defuses decompression bombs.
 */

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
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
  const dims = readImageHeader(body) ?? (await sharpDimensions(body, httpStatus));
  const pixels = 'pixels' in dims && dims.pixels !== undefined ? dims.pixels : dims.width * dims.height * dims.frames;
  if (!(dims.width > 0 && dims.height > 0)) throw new InvalidImageError(`${dims.format} without dimensions`, httpStatus);
  if (pixels > maxPixels) {
    const frame = 'largestFrame' in dims && dims.largestFrame ? `, a frame of ${dims.largestFrame.width}x${dims.largestFrame.height}` : '';
    throw new InvalidImageError(
      `${dims.width}x${dims.height}${dims.frames > 1 ? `x${dims.frames}` : ''} ${dims.format}${frame}: ${pixels} pixels exceed the ${maxPixels}-pixel limit (decompression bomb guard)`,
      httpStatus,
    );
  }
  const ext = EXTENSIONS[dims.format];
  if (!ext) throw new InvalidImageError(`unsupported image format ${dims.format}`, httpStatus);
  const cut = truncation(body, dims.format);
  if (cut) throw new InvalidImageError(cut, httpStatus);
  return {
    format: dims.format,
    width: dims.width,
    height: dims.height,
    bytes: body.length,
    ext,
  };
}

async function sharpDimensions(body: Buffer, httpStatus: number): Promise<HeaderInfo> {
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

/**
 * A JPEG without its end-of-image marker after the scan, or a PNG without its IEND chunk, ended
 * early: the server sent part of an image. Stored, it would be a corrupt file that hashes and
 * syncs like a good one. (Two byte searches from the end: cheap even for large files.)
 */
function truncation(body: Buffer, format: string): string | null {
  if (format === 'jpeg') {
    const sos = body.indexOf(JPEG_SOS);
    if (sos >= 0 && body.lastIndexOf(JPEG_EOI) < sos) return `truncated jpeg: no end-of-image marker after its ${body.length} bytes`;
  } else if (format === 'png') {
    if (body.lastIndexOf(PNG_IEND) < 0) return `truncated png: no IEND chunk after its ${body.length} bytes`;
  }
  return null;
}

const JPEG_SOS = Buffer.from([0xff, 0xda]);
const JPEG_EOI = Buffer.from([0xff, 0xd9]);
const PNG_IEND = Buffer.from('IEND', 'latin1');
