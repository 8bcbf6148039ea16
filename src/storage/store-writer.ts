import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { StorageError } from '../errors';
import type { ImageWriter, StoredFile } from './image-store';

/** A body handed to the writer thread; its memory moves to the thread when it owns all of it. */
export interface WriteRequest {
  id: number;
  body: Uint8Array;
  ext: string;
}

export type WriteReply = { id: number; sha256: string; relativePath: string; created: boolean } | { id: number; error: string };

/**
 * Stores downloaded images from a worker thread: hashing and the half-dozen file-system calls
 * per file (stat, mkdir, open, write, fsync, close, rename), each a round trip through libuv,
 * leave the event loop that runs the crawl — on a busy crawl that loop is the bottleneck, and
 * the store work was a fifth of it (measured with `npm run bench`). Same store, same atomic
 * writes; only the thread differs. A thread that dies fails what it held (the jobs retry) and
 * is started again on the next write.
 */
type Waiter = { resolve: (f: StoredFile) => void; reject: (e: Error) => void };

export class StoreWriter implements ImageWriter {
  /** The running thread and the writes it holds (a dead thread's waiters are failed with it). */
  private current: { worker: Worker; pending: Map<number, Waiter> } | null = null;
  private nextId = 1;

  constructor(private readonly dataDir: string, private readonly fsync: boolean) {}

  /**
   * Hashes `body`, stores it under its hash with extension `ext`. The body's memory may be
   * handed to the thread: read what you need of it (its length) before calling.
   */
  put(body: Buffer, ext: string): Promise<StoredFile> {
    const { worker, pending } = this.current ?? this.start();
    const id = this.nextId++;
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, body, ext } satisfies WriteRequest, owned ? [body.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current) await current.worker.terminate();
  }

  private start(): { worker: Worker; pending: Map<number, Waiter> } {
    const workerData = { dataDir: this.dataDir, fsync: this.fsync };
    // The thread holds a few small objects per file (bodies live outside its heap): a small young
    // generation keeps the process's memory where it was without the thread.
    const resourceLimits = { maxYoungGenerationSizeMb: 4 };
    const entry = path.join(__dirname, 'store-writer-thread');
    // From TypeScript sources (tests, bench) the thread loads its module through tsx, as this process does.
    const worker = __filename.endsWith('.ts')
      ? new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(`${entry}.ts`)});`, { eval: true, workerData, resourceLimits })
      : new Worker(`${entry}.js`, { workerData, resourceLimits });
    worker.unref(); // never what keeps a process alive
    const current = { worker, pending: new Map<number, Waiter>() };
    worker.on('message', (reply: WriteReply) => {
      const waiter = current.pending.get(reply.id);
      if (!waiter) return;
      current.pending.delete(reply.id);
      if ('error' in reply) waiter.reject(new StorageError(`storing an image failed: ${reply.error}`));
      else waiter.resolve({ sha256: reply.sha256, relativePath: reply.relativePath, created: reply.created });
    });
    const fail = (reason: string) => {
      if (this.current === current) this.current = null; // the next write starts a new thread
      const err = new StorageError(`the store writer thread ${reason}`);
      for (const waiter of current.pending.values()) waiter.reject(err);
      current.pending.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`exited (code ${code})`));
    this.current = current;
    return current;
  }
}
