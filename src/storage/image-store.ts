import type { Readable } from 'node:stream';
import type { FileCheck, StoredName } from './content-store';

/**
 * A storage back-end: where image files live, content addressed (`ab/cd/<sha256>.<ext>`, the
 * name from the bytes' hash and the detected format, never from a URL), each written once and
 * verified, never seen half written. The local directory (ContentStore), an S3 bucket (S3Store)
 * and a plugin's store (`imageStore` of a plugin, `storage.backend: plugin`) keep the same
 * promises, checked by one contract test.
 */
export interface FileStore {
  /** Where the files are, for logs and status (`/data/images`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Stores `body` under its hash; `created` is false when the content was already there. */
  put(sha256: string, ext: string, body: Buffer): Promise<{ relativePath: string; created: boolean }>;
  has(relative: string): Promise<boolean>;
  /** `has`, answered at once where it can be (the local store asks the dentry cache synchronously). */
  exists?(relative: string): boolean | Promise<boolean>;
  /** The file's length, or null when it is not there. */
  size(relative: string): Promise<number | null>;
  /** The file's bytes from `start` on, to `end` (inclusive) when given. */
  openRead(relative: string, start?: number, end?: number): Promise<Readable>;
  remove(relative: string): Promise<void>;
  /**
   * Removes a file once no row uses it, safely against a writer storing the same content at that
   * moment (`stillUsed` is asked after the file is out of sight; it comes back when a row
   * appeared). Returns whether the file was removed.
   */
  removeUnlessUsed(relative: string, stillUsed: () => Promise<boolean>): Promise<boolean>;
  /**
   * What a `removeUnlessUsed` interrupted by a crash left set aside (for longer than
   * `olderThanMs`): put back where a row uses the name and the file is not there, else dropped.
   */
  settleSetAside?(olderThanMs: number, stillUsed: (relative: string) => boolean): Promise<SetAsideOutcome>;
  /** Whether the file is there and its bytes hash to its name (`size`: just its length). */
  check(relative: string, expectedSize: number | null, mode?: 'hash' | 'size'): Promise<FileCheck>;
  /** Every stored file, as `ab/cd/<sha256>.<ext>`. */
  inventory(): Promise<Set<string>>;
  /** Lets go of connections (an S3 client's sockets). */
  close?(): void | Promise<void>;
}

export interface SetAsideOutcome {
  restored: number;
  dropped: number;
}

/** What the rest of the system uses: a back-end, and the receipt of files from peers. */
export interface ImageStore extends FileStore {
  exists(relative: string): boolean | Promise<boolean>;

  // Resumable receipt of a file from a peer: chunks go to a partial copy, and the file enters
  // the store only once all of it is there and hashes to its name.
  partialSize(name: StoredName): Promise<number>;
  appendPartial(name: StoredName, offset: number, body: Readable, maxBytes: number): Promise<number>;
  commitPartial(name: StoredName): Promise<void>;
  dropPartial(name: StoredName): Promise<void>;
  partialStats(): Promise<{ count: number; bytes: number }>;
  dropStalePartials(olderThanMs: number): Promise<number>;
}

/** A stored file as a download records it. */
export interface StoredFile {
  sha256: string;
  /** `ab/cd/<sha256>.<ext>`, as recorded in images.file_path. */
  relativePath: string;
  /** False when the content was already in the store. */
  created: boolean;
}

/** How downloads reach the store: hashed and written (the local store does both on a thread). */
export interface ImageWriter {
  /** Hashes `body` and stores it. Its memory may be handed over: read what you need first. */
  put(body: Buffer, ext: string): Promise<StoredFile>;
  close(): Promise<void>;
}

/** A stored file's bytes (from `start` to `end` inclusive, when given) in one buffer: for what needs them whole. */
export async function readStored(store: FileStore, relative: string, start?: number, end?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.openRead(relative, start, end)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
