import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageStore, SetAsideOutcome } from './image-store';

/** A stored file's name: `<sha256>.<ext>`, the only form a peer may send or ask for. */
export interface StoredName {
  sha256: string;
  ext: string;
  /** `ab/cd/<sha256>.<ext>`, as recorded in images.file_path. */
  relativePath: string;
}

/** A transfer's bytes do not hash to the name they were sent under: the partial file is dropped. */
export class CorruptTransferError extends Error {}

/** A chunk was sent for an offset other than where the partial file ends. */
export class OffsetMismatchError extends Error {
  constructor(readonly expected: number) {
    super(`partial file ends at ${expected}`);
  }
}

export type FileCheck = 'ok' | 'missing' | 'corrupt';

/** A file being removed is renamed `.deleting-<name>-<8 hex>` first (see removeUnlessUsed). */
const SET_ASIDE = '.deleting-';
const SET_ASIDE_NAME = /^\.deleting-([0-9a-f]{64}\.[a-z0-9]{1,5})-[0-9a-f]{8}$/;

/**
 * Content-addressed image files: `images/ab/cd/<sha256>.<ext>` under the data directory. The
 * name comes from the hash and the detected format, never from the URL. Writes are atomic
 * (temporary file in the same directory, fsync, rename), so a reader or a crash never sees half
 * a file, and idempotent: storing the same content twice writes once.
 */
export class ContentStore implements ImageStore {
  readonly root: string;
  /** Shard directories known to exist: saves a mkdir per file. */
  private readonly madeDirs = new Set<string>();
  /** Directory fsyncs not started yet, by directory (see syncDir). */
  private readonly dirSyncs = new Map<string, Promise<void>>();

  constructor(dataDir: string, private readonly fsync = true) {
    this.root = path.resolve(dataDir, 'images');
  }

  get location(): string {
    return this.root;
  }

  /** Path relative to the store root, as recorded in `images.file_path`. */
  static relativePath(sha256: string, ext: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
    if (!/^[a-z0-9]{1,5}$/.test(ext)) throw new Error(`bad file extension: ${ext}`);
    return path.join(sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}.${ext}`);
  }

  /** Parses and validates `<sha256>.<ext>` (a file name from a peer or a row). */
  static parseName(name: string): StoredName {
    const m = /^([0-9a-f]{64})\.([a-z0-9]{1,5})$/.exec(name);
    if (!m) throw new Error(`not a stored file name: ${name.slice(0, 100)}`);
    return { sha256: m[1], ext: m[2], relativePath: ContentStore.relativePath(m[1], m[2]) };
  }

  /** The stored name of a recorded `file_path`. */
  static nameOf(relativePath: string): StoredName {
    return ContentStore.parseName(path.basename(relativePath));
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
      const created = await fsp.mkdir(dir, { recursive: true });
      // New directories are entries of their parents: durable only once those are synced too.
      if (created && this.fsync) for (let d = dir; d.length >= created.length; d = path.dirname(d)) await this.syncDir(path.dirname(d));
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
    // The rename is an entry of the directory: without syncing it, a power loss may lose the
    // file although its bytes were synced (and its row says stored).
    if (this.fsync) await this.syncDir(dir);
    return { relativePath, created: true };
  }

  /**
   * fsync of a directory, shared by the renames into it that finished before it starts (one
   * sync covers them all); later renames get the next one.
   */
  private syncDir(dir: string): Promise<void> {
    let pending = this.dirSyncs.get(dir);
    if (!pending) {
      pending = Promise.resolve().then(() => {
        this.dirSyncs.delete(dir);
        return fsyncPath(dir);
      });
      this.dirSyncs.set(dir, pending);
    }
    return pending;
  }

  /**
   * Whether the file is there, asked synchronously: a stat of a just-written file is answered
   * from the dentry cache in microseconds, where the promise round trip through the thread pool
   * cost ~45 µs of the main thread per image (4.6 % of a crawl's profile).
   */
  exists(relative: string): boolean {
    return fs.existsSync(this.absolutePath(relative));
  }

  async has(relative: string): Promise<boolean> {
    return fsp.access(this.absolutePath(relative)).then(
      () => true,
      () => false,
    );
  }

  createReadStream(relative: string, start = 0): fs.ReadStream {
    return fs.createReadStream(this.absolutePath(relative), { start });
  }

  /** Opened before it resolves: a file that is not there rejects here, not in the stream. */
  async openRead(relative: string, start = 0, end?: number): Promise<Readable> {
    const fh = await fsp.open(this.absolutePath(relative), 'r');
    return fh.createReadStream({ start, end, autoClose: true });
  }

  async remove(relative: string): Promise<void> {
    await fsp.rm(this.absolutePath(relative), { force: true });
  }

  /**
   * Removes a file once no row uses it, safely against a worker storing the same content at
   * the same moment (it finds the file there, writes nothing, then records its row): the file
   * is first moved aside, then `stillUsed` asks the database, and it is put back when a row
   * appeared. A row recorded after that question finds its file gone (`has`) and stores it
   * again. Returns whether the file was removed.
   */
  async removeUnlessUsed(relative: string, stillUsed: () => Promise<boolean>): Promise<boolean> {
    const target = this.absolutePath(relative);
    const aside = path.join(path.dirname(target), `${SET_ASIDE}${path.basename(target)}-${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(target, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    let used = true;
    try {
      used = await stillUsed();
    } finally {
      // Put back (over a copy stored meanwhile: the same bytes) or drop.
      if (used) await fsp.rename(aside, target);
      else await fsp.rm(aside, { force: true });
    }
    return !used;
  }

  async settleSetAside(olderThanMs: number, stillUsed: (relative: string) => boolean): Promise<SetAsideOutcome> {
    const outcome = { restored: 0, dropped: 0 };
    for (const dir of await this.shardDirs()) {
      for (const f of await fsp.readdir(path.join(this.root, dir)).catch(() => [] as string[])) {
        const name = SET_ASIDE_NAME.exec(f)?.[1];
        const aside = path.join(this.root, dir, f);
        // A rename sets ctime: how long ago the removal began.
        const st = name ? await fsp.stat(aside).catch(() => null) : null;
        if (!name || !st || Date.now() - st.ctimeMs < olderThanMs) continue;
        const relative = path.join(dir, name);
        if (stillUsed(relative) && !(await this.has(relative))) {
          await fsp.rename(aside, this.absolutePath(relative));
          outcome.restored++;
        } else {
          await fsp.rm(aside, { force: true });
          outcome.dropped++;
        }
      }
    }
    return outcome;
  }

  async size(relative: string): Promise<number | null> {
    const st = await fsp.stat(this.absolutePath(relative)).catch(() => null);
    return st ? st.size : null;
  }

  /** Whether the file is there and its bytes hash to its name (`size` only: just the length). */
  async check(relative: string, expectedSize: number | null, mode: 'hash' | 'size' = 'hash'): Promise<FileCheck> {
    const size = await this.size(relative);
    if (size === null) return 'missing';
    if (expectedSize !== null && size !== expectedSize) return 'corrupt';
    if (mode === 'size') return 'ok';
    const sha = await hashFile(this.absolutePath(relative)).catch(() => null);
    return sha === path.basename(relative).split('.')[0] ? 'ok' : 'corrupt';
  }

  /** Every stored file, as `ab/cd/<sha256>.<ext>` (temporary and partial files left out). */
  async inventory(): Promise<Set<string>> {
    const found = new Set<string>();
    for (const dir of await this.shardDirs()) {
      for (const f of await fsp.readdir(path.join(this.root, dir)).catch(() => [] as string[])) {
        if (!f.startsWith('.')) found.add(path.join(dir, f));
      }
    }
    return found;
  }

  /** The `ab/cd` directories files live in. */
  private async shardDirs(): Promise<string[]> {
    const dirs: string[] = [];
    for (const a of await fsp.readdir(this.root).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await fsp.readdir(path.join(this.root, a)).catch(() => [] as string[])) dirs.push(path.join(a, b));
    }
    return dirs;
  }

  // Resumable transfers: bytes arrive in chunks into `.partial/<name>`; the file enters the
  // store only once all of it is there and hashes to its name.

  /** The partial copy of `name` (an S3 store stages its receipts in a local one). */
  partialPath(name: StoredName): string {
    return path.join(this.root, '.partial', `${name.sha256}.${name.ext}`);
  }

  /** Bytes of `name` received so far (0 when no transfer is under way). */
  async partialSize(name: StoredName): Promise<number> {
    const st = await fsp.stat(this.partialPath(name)).catch(() => null);
    return st ? st.size : 0;
  }

  /**
   * Appends a chunk that starts at `offset` (which must be where the partial file ends) and
   * returns the new length. A chunk cut short leaves what arrived: the next attempt resumes there.
   */
  async appendPartial(name: StoredName, offset: number, body: Readable, maxBytes: number): Promise<number> {
    const file = this.partialPath(name);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const have = await this.partialSize(name);
    if (offset !== have) throw new OffsetMismatchError(have);
    let written = have;
    body.on('data', (chunk: Buffer) => {
      written += chunk.length;
      if (written > maxBytes) body.destroy(new CorruptTransferError(`transfer exceeds ${maxBytes} bytes`));
    });
    await pipeline(body, fs.createWriteStream(file, { flags: 'a' }));
    return this.partialSize(name);
  }

  /** Moves a complete partial file into the store if its bytes hash to its name; else drops it. */
  async commitPartial(name: StoredName): Promise<void> {
    const file = this.partialPath(name);
    const sha = await hashFile(file);
    if (sha !== name.sha256) {
      await fsp.rm(file, { force: true });
      throw new CorruptTransferError(`received bytes hash to ${sha}, not ${name.sha256}`);
    }
    const target = this.absolutePath(name.relativePath);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    if (this.fsync) await fsyncFile(file);
    await fsp.rename(file, target);
    if (this.fsync) await this.syncDir(path.dirname(target));
  }

  /** Transfers under way: how many partial files, and their bytes. */
  async partialStats(): Promise<{ count: number; bytes: number }> {
    const dir = path.join(this.root, '.partial');
    let count = 0;
    let bytes = 0;
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      const st = await fsp.stat(path.join(dir, f)).catch(() => null);
      if (!st) continue;
      count++;
      bytes += st.size;
    }
    return { count, bytes };
  }

  /** Removes partial files untouched for `olderThanMs` (transfers given up); returns how many. */
  async dropStalePartials(olderThanMs: number): Promise<number> {
    const dir = path.join(this.root, '.partial');
    let dropped = 0;
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      const st = await fsp.stat(path.join(dir, f)).catch(() => null);
      if (st && Date.now() - st.mtimeMs > olderThanMs) {
        await fsp.rm(path.join(dir, f), { force: true });
        dropped++;
      }
    }
    return dropped;
  }

  async dropPartial(name: StoredName): Promise<void> {
    await fsp.rm(this.partialPath(name), { force: true });
  }
}

export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of a file or directory by path (a directory opened read-only: Linux allows its fsync). */
function fsyncPath(p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(p, 'r', (err, fd) => {
      if (err) return reject(err);
      fs.fsync(fd, (syncErr) => fs.close(fd, (closeErr) => (syncErr || closeErr ? reject(syncErr ?? closeErr) : resolve())));
    });
  });
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
