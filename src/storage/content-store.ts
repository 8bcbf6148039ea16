import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * Content-addressed image files: `images/ab/cd/<sha256>.<ext>` under the data directory. The
 * name comes from the hash and the detected format, never from the URL. Writes are atomic
 * (temporary file in the same directory, fsync, rename), so a reader or a crash never sees half
 * a file, and idempotent: storing the same content twice writes once.
 */
export class ContentStore {
  readonly root: string;
  /** Shard directories known to exist: saves a mkdir per file. */
  private readonly madeDirs = new Set<string>();

  constructor(dataDir: string, private readonly fsync = true) {
    this.root = path.resolve(dataDir, 'images');
  }

  /** Path relative to the store root, as recorded in `images.file_path`. */
  static relativePath(sha256: string, ext: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
    if (!/^[a-z0-9]{1,5}$/.test(ext)) throw new Error(`bad file extension: ${ext}`);
    return path.join(sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.${ext}`);
  }

  absolutePath(relative: string): string {
    const abs = path.resolve(this.root, relative);
    if (!abs.startsWith(this.root + path.sep)) throw new Error(`path escapes the store: ${relative}`);
    return abs;
  }

  /**
   * Stores `body` under its hash; `created` is false when the content was already there. Two
   * workers storing the same new content at once both write and rename — harmless, the bytes
   * are identical — which saves the link-and-unlink an exact answer would cost on every file.
   * A file of the wrong size (damaged) is replaced.
   */
  async put(sha256: string, ext: string, body: Buffer): Promise<{ relativePath: string; created: boolean }> {
    const relativePath = ContentStore.relativePath(sha256, ext);
    const target = this.absolutePath(relativePath);
    const existing = await fsp.stat(target).catch(() => null);
    if (existing && existing.size === body.length) return { relativePath, created: false };

    const dir = path.dirname(target);
    if (!this.madeDirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = path.join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await writeDurably(tmp, body, this.fsync);
      await fsp.rename(tmp, target);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { relativePath, created: true };
  }

  async has(relative: string): Promise<boolean> {
    return fsp.access(this.absolutePath(relative)).then(
      () => true,
      () => false,
    );
  }

  createReadStream(relative: string): fs.ReadStream {
    return fs.createReadStream(this.absolutePath(relative));
  }

  async remove(relative: string): Promise<void> {
    await fsp.rm(this.absolutePath(relative), { force: true });
  }
}

/** open, write, fsync, close — plain callbacks: each FileHandle step would cost a promise round trip. */
function writeDurably(file: string, body: Buffer, sync: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(file, 'w', 0o644, (err, fd) => {
      if (err) return reject(err);
      const finish = (e: Error | null) => fs.close(fd, (closeErr) => (e || closeErr ? reject(e ?? closeErr) : resolve()));
      const writeFrom = (offset: number) => {
        fs.write(fd, body, offset, body.length - offset, null, (werr, written) => {
          if (werr) return finish(werr);
          if (offset + written < body.length) return writeFrom(offset + written);
          if (sync) fs.fsync(fd, finish);
          else finish(null);
        });
      };
      writeFrom(0);
    });
  });
}
