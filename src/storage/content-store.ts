import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * Content-addressed image files: `images/ab/cd/<sha256>.<ext>` under the data directory. The
 * name comes from the hash and the detected format, never from the URL. Writes are atomic
 * (temporary file in the same directory, fsync, then link or rename), so a reader or a crash never sees half
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
   * Stores `body` under its hash. `created` is false when the content was already there — also
   * when several workers store the same content at once: the hard link that publishes the file
   * succeeds for exactly one of them. A file of the wrong size (damaged) is replaced.
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
    const handle = await fsp.open(tmp, 'w', 0o644);
    try {
      try {
        await handle.writeFile(body);
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      if (!existing) {
        try {
          await fsp.link(tmp, target);
          return { relativePath, created: true };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const now = await fsp.stat(target);
          if (now.size === body.length) return { relativePath, created: false };
        }
      }
      await fsp.rename(tmp, target); // replaces a damaged file atomically
      return { relativePath, created: true };
    } finally {
      await fsp.rm(tmp, { force: true });
    }
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
