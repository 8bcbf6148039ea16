import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { ContentStore } from '../storage/content-store';
import type { ImageStore } from '../storage/image-store';
import { HttpError } from './http-errors';

/**
 * Answers with a stored file: `If-None-Match` against an ETag already set (304) and one byte
 * range (206: how a peer resumes a pull) are honoured whatever the back-end. A local file goes
 * through sendFile (the kernel copies it); a bucket's object is streamed through this process.
 */
export async function sendStoredFile(req: Request, res: Response, store: ImageStore, relative: string): Promise<void> {
  if (store instanceof ContentStore) {
    await new Promise<void>((resolve, reject) =>
      res.sendFile(store.absolutePath(relative), { etag: false, lastModified: false, cacheControl: false, dotfiles: 'deny' }, (err) => {
        if (!err || res.headersSent) return resolve();
        reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? new HttpError(404, `no file ${relative}`) : err);
      }),
    );
    return;
  }
  if (res.get('ETag') && req.fresh) {
    res.status(304).end();
    return;
  }
  const size = await store.size(relative);
  if (size === null) throw new HttpError(404, `no file ${relative}`);
  res.set('Accept-Ranges', 'bytes');
  const ranges = req.headers.range ? req.range(size) : undefined;
  if (ranges === -1) {
    res.status(416).set('Content-Range', `bytes */${size}`).end();
    return;
  }
  const one = Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1 ? ranges[0] : null;
  const [start, end] = one ? [one.start, one.end] : [0, size - 1];
  if (one) res.status(206).set('Content-Range', `bytes ${start}-${end}/${size}`);
  res.set('Content-Length', String(size === 0 ? 0 : end - start + 1));
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(await store.openRead(relative, start, end), res);
}
