import type { Readable } from 'node:stream';
import type { FileCheck, StoredName } from './content-store';

/**
 * A storage back-end: where image files live, content addressed (`ab/cd/<sha256>.<ext>`, the
 * name from the bytes' hash and the detected format, never from a URL), each written once and
 * verified, never seen half written. The local directory (ContentStore) and an S3 bucket
 * (S3Store) keep the same promises; everything that reads, copies, checks or deletes files uses
 * only this.
 */
export interface ImageStore {
  /** Where the files are, for logs and status (`/data/images`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Stores `body` under its hash; `created` is false when the content was already there. */
  put(sha256: string, ext: string, body: Buffer): Promise<{ relativePath: string; created: boolean }>;
  has(relative: string): Promise<boolean>;
  /** The file's length, or null when it is not there. */
  size(relative: string): Promise<number | null>;
  /** The file's bytes from `start` on. */
  openRead(relative: string, start?: number): Promise<Readable>;
  remove(relative: string): Promise<void>;
  /**
   * Removes a file once no row uses it, safely against a writer storing the same content at that
   * moment (`stillUsed` is asked after the file is out of sight; it comes back when a row
   * appeared). Returns whether the file was removed.
   */
  removeUnlessUsed(relative: string, stillUsed: () => Promise<boolean>): Promise<boolean>;
  /** Whether the file is there and its bytes hash to its name (`size`: just its length). */
  check(relative: string, expectedSize: number | null, mode?: 'hash' | 'size'): Promise<FileCheck>;
  /** Every stored file, as `ab/cd/<sha256>.<ext>`. */
  inventory(): Promise<Set<string>>;

  // Resumable receipt of a file from a peer: chunks go to a partial copy, and the file enters
  // the store only once all of it is there and hashes to its name.
  partialSize(name: StoredName): Promise<number>;
  appendPartial(name: StoredName, offset: number, body: Readable, maxBytes: number): Promise<number>;
  commitPartial(name: StoredName): Promise<void>;
  dropPartial(name: StoredName): Promise<void>;
  partialStats(): Promise<{ count: number; bytes: number }>;
  dropStalePartials(olderThanMs: number): Promise<number>;
}
