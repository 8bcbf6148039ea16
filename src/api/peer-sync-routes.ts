import { Router } from 'express';
import { z } from 'zod';
import type { Runtime } from '../runtime';
import { sendStoredFile } from './send-stored-file';
import { ContentStore, CorruptTransferError, OffsetMismatchError, StoredName } from '../storage/content-store';
import { HttpError, parseOr400 } from './http-errors';

/**
 * The internal endpoint peers use to copy files (/internal/sync, bearer token shared by the
 * hosts). Uploads are resumable: HEAD tells where this host's partial copy ends
 * (`Upload-Offset`), each PUT carries the chunk starting there (`Upload-Offset`,
 * `Upload-Length`), and the last chunk moves the file into the store only if its bytes hash to
 * its name. A host that already has the file answers at once.
 */
export function peerSyncRoutes(rt: Runtime): Router {
  const r = Router();
  const locks = new Map<string, Promise<unknown>>();
  /** One upload per file at a time in this process: two hosts pushing the same file queue up. */
  const serialized = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const run = (locks.get(key) ?? Promise.resolve()).then(fn, fn);
    const settled = run.catch(() => undefined);
    locks.set(key, settled);
    void settled.then(() => locks.get(key) === settled && locks.delete(key));
    return run;
  };
  const nameOf = (raw: string): StoredName => {
    try {
      return ContentStore.parseName(raw);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
  };

  r.head('/files/:name', async (req, res) => {
    const name = nameOf(req.params.name);
    const size = await rt.store.size(name.relativePath);
    if (size !== null) {
      res.set('Content-Length', String(size)).status(200).end();
      return;
    }
    res.set('Upload-Offset', String(await rt.store.partialSize(name))).status(404).end();
  });

  r.get('/files/:name', async (req, res) => {
    const name = nameOf(req.params.name);
    // A Range request (206) is how a pull resumes.
    res.set('Content-Type', 'application/octet-stream');
    await sendStoredFile(req, res, rt.store, name.relativePath).catch((err) => {
      throw err instanceof HttpError && err.status === 404 ? new HttpError(404, `no file ${req.params.name}`) : err;
    });
  });

  const uploadHeaders = z.object({
    'upload-offset': z.coerce.number().int().min(0),
    'upload-length': z.coerce.number().int().min(1).max(rt.config.crawler.max_image_bytes),
  });

  /** Why a new transfer of `length` bytes cannot start now (after expiring idle ones), or null. */
  const partialRoom = async (length: number): Promise<string | null> => {
    const s = rt.config.sync;
    await rt.store.dropStalePartials(s.partial_idle_s * 1000);
    const { count, bytes } = await rt.store.partialStats();
    if (count >= s.max_partials) return `${count} transfers already under way here (sync.max_partials ${s.max_partials}): retry later`;
    if (bytes + length > s.max_partial_bytes) return `${bytes} bytes of transfers already under way here (sync.max_partial_bytes ${s.max_partial_bytes}): retry later`;
    return null;
  };

  r.put('/files/:name', async (req, res) => {
    const name = nameOf(req.params.name);
    const h = parseOr400(uploadHeaders, req.headers, 'upload headers');
    const result = await serialized(name.sha256, async () => {
      if ((await rt.store.size(name.relativePath)) !== null) {
        req.resume();
        return { status: 200, body: { complete: true, existed: true } };
      }
      if (h['upload-offset'] === 0 && (await rt.store.partialSize(name)) === 0) {
        // A new transfer: within the bounds on what peers may leave half-sent here.
        const refusal = await partialRoom(h['upload-length']);
        if (refusal) {
          req.resume();
          return { status: 507, body: { error: refusal } };
        }
      }
      let offset: number;
      try {
        offset = await rt.store.appendPartial(name, h['upload-offset'], req, h['upload-length']);
      } catch (err) {
        if (err instanceof OffsetMismatchError) {
          req.resume();
          return { status: 409, body: { error: err.message, offset: err.expected } };
        }
        if (err instanceof CorruptTransferError) {
          await rt.store.dropPartial(name);
          return { status: 413, body: { error: err.message } };
        }
        throw err;
      }
      if (offset < h['upload-length']) return { status: 202, body: { complete: false, offset } };
      try {
        await rt.store.commitPartial(name);
      } catch (err) {
        if (err instanceof CorruptTransferError) return { status: 422, body: { error: err.message } };
        throw err;
      }
      return { status: 201, body: { complete: true, existed: false } };
    });
    res.status(result.status).json(result.body);
  });

  /** A peer deleted the last row of a file: drop the copy here too, unless a row still uses it. */
  r.delete('/files/:name', async (req, res) => {
    const name = nameOf(req.params.name);
    const removed = await rt.store.removeUnlessUsed(name.relativePath, () => rt.images.fileInUse(name.relativePath));
    res.json({ removed });
  });

  /** Files this host's rows reference and its store lacks. */
  r.get('/missing', async (_req, res) => {
    res.json({ host: rt.fileSync.host, missing: await rt.fileSync.missingHere() });
  });

  /** This host's store against the rows; `repair` fetches missing or corrupt files from peers. */
  r.post('/verify', async (req, res) => {
    const { repair } = parseOr400(z.object({ repair: z.boolean().default(false) }).strict(), req.body ?? {}, 'verify request');
    res.json(await rt.fileSync.audit(repair));
  });

  return r;
}
