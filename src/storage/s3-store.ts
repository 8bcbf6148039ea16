import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { StorageError } from '../errors';
import { ContentStore, FileCheck } from './content-store';
import type { FileStore, SetAsideOutcome } from './image-store';

export interface S3StoreSettings {
  bucket: string;
  /** Keys start with this (`images/` puts every file under one folder of the bucket). */
  prefix: string;
  /** An S3-compatible server's URL; unset for AWS itself. */
  endpoint?: string;
  region: string;
  /** `http://host/bucket/key` rather than `http://bucket.host/key` (most S3-compatible servers). */
  forcePathStyle: boolean;
  /** Unset: the SDK's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Where removeUnlessUsed keeps a file while it asks whether a row still uses it: `.deleting/ab-cd-<name>-<8 hex>`. */
const SET_ASIDE = '.deleting/';
const SET_ASIDE_KEY = /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{64}\.[a-z0-9]{1,5})-[0-9a-f]{8}$/;

/** `ab/cd/<sha256>.<ext>`: the only keys the store reads as files. */
const FILE_KEY = /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.[a-z0-9]{1,5}$/;

/**
 * Image files in an S3 bucket, with the local store's promises: content addressed (the key is
 * the file's relative path), written once (a key already there at the right length is not
 * written again), verified (the upload carries the bytes' SHA-256, which S3 checks before it
 * keeps them, and the stored length is read back), never seen half written (an object appears
 * whole or not at all). Files received from peers reach it through StagedStore.
 */
export class S3Store implements FileStore {
  readonly location: string;
  private readonly s3: S3Client;

  constructor(private readonly settings: S3StoreSettings) {
    this.location = `s3://${settings.bucket}/${settings.prefix}`;
    this.s3 = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      credentials: settings.credentials,
      // Checksums only where S3 asks for them: ours (SHA-256) is sent with every upload anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(relative: string): string {
    if (!FILE_KEY.test(relative)) throw new StorageError(`not a stored file path: ${relative.slice(0, 100)}`);
    return this.settings.prefix + relative;
  }

  async put(sha256: string, ext: string, body: Buffer): Promise<{ relativePath: string; created: boolean }> {
    const relativePath = ContentStore.relativePath(sha256, ext);
    // A key of the wrong length (a damaged upload by another tool) is replaced, as locally.
    if ((await this.size(relativePath)) === body.length) return { relativePath, created: false };
    await this.upload(relativePath, sha256, body);
    return { relativePath, created: true };
  }

  private async upload(relativePath: string, sha256: string, body: Buffer): Promise<void> {
    const Key = this.key(relativePath);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key,
        Body: body,
        ContentLength: body.length,
        ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      }),
    );
    const stored = await this.size(relativePath);
    if (stored !== body.length) throw new StorageError(`s3 upload of ${Key}: ${stored ?? 'no'} bytes stored, ${body.length} sent`);
  }

  async has(relative: string): Promise<boolean> {
    return (await this.size(relative)) !== null;
  }

  async size(relative: string): Promise<number | null> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative) }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async openRead(relative: string, start = 0, end?: number): Promise<Readable> {
    const range = start > 0 || end !== undefined ? { Range: `bytes=${start}-${end ?? ''}` } : {};
    const res = await this.s3.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative), ...range }));
    if (!(res.Body instanceof Readable)) throw new StorageError(`s3 GET ${relative}: no body stream`);
    return res.Body;
  }

  async remove(relative: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(relative) }));
  }

  /** The local store's move-aside, with a copy to a key no reader asks for in place of a rename. */
  async removeUnlessUsed(relative: string, stillUsed: () => Promise<boolean>): Promise<boolean> {
    const Bucket = this.settings.bucket;
    const Key = this.key(relative);
    const aside = `${this.settings.prefix}${SET_ASIDE}${relative.replace(/\//g, '-')}-${randomBytes(4).toString('hex')}`;
    try {
      await this.s3.send(new CopyObjectCommand({ Bucket, Key: aside, CopySource: `${Bucket}/${encodeURI(Key)}` }));
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    await this.remove(relative);
    let used = true;
    try {
      used = await stillUsed();
    } finally {
      if (used) await this.s3.send(new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${encodeURI(aside)}` }));
      await this.s3.send(new DeleteObjectCommand({ Bucket, Key: aside }));
    }
    return !used;
  }

  async settleSetAside(olderThanMs: number, stillUsed: (relative: string) => boolean): Promise<SetAsideOutcome> {
    const Bucket = this.settings.bucket;
    const outcome = { restored: 0, dropped: 0 };
    const prefix = `${this.settings.prefix}${SET_ASIDE}`;
    for await (const o of this.objects(prefix)) {
      const m = SET_ASIDE_KEY.exec(o.Key?.slice(prefix.length) ?? '');
      if (!m || !o.Key || !o.LastModified || Date.now() - o.LastModified.getTime() < olderThanMs) continue;
      const relative = `${m[1]}/${m[2]}/${m[3]}`;
      if (stillUsed(relative) && !(await this.has(relative))) {
        await this.s3.send(new CopyObjectCommand({ Bucket, Key: this.key(relative), CopySource: `${Bucket}/${encodeURI(o.Key)}` }));
        outcome.restored++;
      } else outcome.dropped++;
      await this.s3.send(new DeleteObjectCommand({ Bucket, Key: o.Key }));
    }
    return outcome;
  }

  /** Every object under `prefix`, a page of the listing at a time. */
  private async *objects(prefix: string): AsyncGenerator<_Object> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ContinuationToken }));
      yield* page.Contents ?? [];
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async check(relative: string, expectedSize: number | null, mode: 'hash' | 'size' = 'hash'): Promise<FileCheck> {
    const size = await this.size(relative);
    if (size === null) return 'missing';
    if (expectedSize !== null && size !== expectedSize) return 'corrupt';
    if (mode === 'size') return 'ok';
    const hash = createHash('sha256');
    for await (const chunk of await this.openRead(relative)) hash.update(chunk as Buffer);
    return hash.digest('hex') === relative.split('/').pop()?.split('.')[0] ? 'ok' : 'corrupt';
  }

  async inventory(): Promise<Set<string>> {
    const found = new Set<string>();
    for await (const o of this.objects(this.settings.prefix)) {
      const relative = o.Key?.slice(this.settings.prefix.length);
      if (relative && FILE_KEY.test(relative)) found.add(relative);
    }
    return found;
  }

  close(): void {
    this.s3.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
