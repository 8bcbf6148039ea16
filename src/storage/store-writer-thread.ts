/**
 * The store writer's thread (see store-writer.ts): hashes each body it is handed, writes it to
 * the content store (temporary file, fsync, rename) and answers with where it went and whether
 * this write created it — exactly once per content, even for copies that arrive together.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { ContentStore } from './content-store';
import type { WriteReply, WriteRequest } from './store-writer';

const { dataDir, fsync } = workerData as { dataDir: string; fsync: boolean };
const store = new ContentStore(dataDir, fsync);
const port = parentPort;
if (!port) throw new Error('store-writer-thread runs as a worker thread');

/** Writes under way, by file name: the same content arriving twice at once is written once. */
const inFlight = new Map<string, Promise<{ relativePath: string; created: boolean }>>();

port.on('message', ({ id, body, ext }: WriteRequest) => {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const name = `${sha256}.${ext}`;
  const running = inFlight.get(name);
  let write;
  if (running) {
    write = running.then((r) => ({ ...r, created: false }));
  } else {
    write = store.put(sha256, ext, bytes).finally(() => inFlight.delete(name));
    inFlight.set(name, write);
  }
  write.then(
    ({ relativePath, created }) => port.postMessage({ id, sha256, relativePath, created } satisfies WriteReply),
    (err: Error) => port.postMessage({ id, error: err.message } satisfies WriteReply),
  );
});
