import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

/** Edge of a thumbnail, in pixels (the longer side). */
export const THUMB_SIZE = 240;

/**
 * Thumbnails for the console's gallery: made by sharp on first request (under the same pixel
 * budget as downloads: a decompression bomb never reaches here, but a budget costs nothing),
 * SVG rasterised (never inlined), cached as WebP by the image's sha256 under
 * `<data_dir>/thumbs`, written atomically so two requests at once cannot serve half a file.
 */
export class Thumbnails {
  private readonly root: string;

  constructor(dataDir: string, private readonly maxPixels: number) {
    this.root = path.resolve(dataDir, 'thumbs');
  }

  /** The thumbnail of the image whose content is `sha256`; made from `source()` (a file path or the bytes) when missing. */
  async get(sha256: string, source: () => Promise<string | Buffer>): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    const file = path.join(this.root, sha256.slice(0, 2), `${sha256}-${THUMB_SIZE}.webp`);
    if (await fsp.access(file).then(() => true, () => false)) return file;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await sharp(await source(), { limitInputPixels: this.maxPixels, density: 96, animated: false })
        .rotate() // EXIF orientation, as a browser shows it
        .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 70 })
        .toFile(tmp);
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return file;
  }
}
