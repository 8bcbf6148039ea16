import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ContentStore, CorruptTransferError, FileCheck, StoredName, hashFile } from './content-store';
import type { FileStore, ImageStore, ImageWriter, SetAsideOutcome, StoredFile } from './image-store';

/**
 * A back-end other than the local directory (a bucket, a plugin's store), with what the rest of
 * the system needs besides: files received from peers are assembled in a local staging
 * directory and handed to the back-end only once they hash to their name.
 */
export class StagedStore implements ImageStore {
  private readonly staging: ContentStore;

  constructor(readonly files: FileStore, stagingDir: string) {
    this.staging = new ContentStore(stagingDir, true);
  }

  get location(): string {
    return this.files.location;
  }

  put(sha256: string, ext: string, body: Buffer): Promise<{ relativePath: string; created: boolean }> {
    return this.files.put(sha256, ext, body);
  }
  has(relative: string): Promise<boolean> {
    return this.files.has(relative);
  }
  exists(relative: string): boolean | Promise<boolean> {
    return this.files.exists ? this.files.exists(relative) : this.files.has(relative);
  }
  size(relative: string): Promise<number | null> {
    return this.files.size(relative);
  }
  openRead(relative: string, start?: number, end?: number): Promise<Readable> {
    return this.files.openRead(relative, start, end);
  }
  remove(relative: string): Promise<void> {
    return this.files.remove(relative);
  }
  removeUnlessUsed(relative: string, stillUsed: () => Promise<boolean>): Promise<boolean> {
    return this.files.removeUnlessUsed(relative, stillUsed);
  }
  async settleSetAside(olderThanMs: number, stillUsed: (relative: string) => boolean): Promise<SetAsideOutcome> {
    return (await this.files.settleSetAside?.(olderThanMs, stillUsed)) ?? { restored: 0, dropped: 0 };
  }
  check(relative: string, expectedSize: number | null, mode?: 'hash' | 'size'): Promise<FileCheck> {
    return this.files.check(relative, expectedSize, mode);
  }
  inventory(): Promise<Set<string>> {
    return this.files.inventory();
  }
  async close(): Promise<void> {
    await this.files.close?.();
  }

  partialSize(name: StoredName): Promise<number> {
    return this.staging.partialSize(name);
  }
  appendPartial(name: StoredName, offset: number, body: Readable, maxBytes: number): Promise<number> {
    return this.staging.appendPartial(name, offset, body, maxBytes);
  }

  /** Hands a complete partial copy to the back-end if its bytes hash to its name (else drops it). A failed put keeps it for the next try. */
  async commitPartial(name: StoredName): Promise<void> {
    const file = this.staging.partialPath(name);
    const sha = await hashFile(file);
    if (sha !== name.sha256) {
      await this.staging.dropPartial(name);
      throw new CorruptTransferError(`received bytes hash to ${sha}, not ${name.sha256}`);
    }
    await this.files.put(name.sha256, name.ext, await fsp.readFile(file));
    await this.staging.dropPartial(name);
  }
  dropPartial(name: StoredName): Promise<void> {
    return this.staging.dropPartial(name);
  }
  partialStats(): Promise<{ count: number; bytes: number }> {
    return this.staging.partialStats();
  }
  dropStalePartials(olderThanMs: number): Promise<number> {
    return this.staging.dropStalePartials(olderThanMs);
  }
}

/**
 * Downloads into a back-end other than the local directory: hashed on the event loop (~0.1 ms
 * for a typical image) and put; the local store's writer thread exists to keep file-system
 * calls off the loop, which a bucket or a plugin's store does not make.
 */
export class HashingWriter implements ImageWriter {
  constructor(private readonly store: FileStore) {}

  async put(body: Buffer, ext: string): Promise<StoredFile> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    return { sha256, ...(await this.store.put(sha256, ext, body)) };
  }

  /** The store is the runtime's to close. */
  async close(): Promise<void> {}
}
