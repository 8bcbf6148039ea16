import { deleteImage } from '../storage/delete-image';
import { Router } from 'express';
import type { Runtime } from '../runtime';
import { ContentStore } from '../storage/content-store';
import { ImageStore, readStored } from '../storage/image-store';
import { sendStoredFile } from './send-stored-file';
import { mimeTypeOf } from '../storage/image-inspector';
import { Thumbnails } from '../storage/thumbnails';
import { HttpError, parseOr400 } from './http-errors';
import { imageIdText, imageListQuery, similarQuery } from './schemas';

/** A decimal id; beyond any id there is no image (404, not 400 or 500). */
function imageId(raw: string): number {
  const text = parseOr400(imageIdText, raw, 'image id');
  const id = Number(text);
  if (id < 1 || !Number.isSafeInteger(id)) throw new HttpError(404, `no image ${text}`);
  return id;
}
/** GET /api/images, GET/DELETE /api/images/:id, GET /api/images/:id/file, GET /api/images/:id/similar */
export function imageRoutes(rt: Runtime): Router {
  const r = Router();
  const thumbnails = new Thumbnails(rt.config.storage.data_dir, rt.config.crawler.max_image_pixels);

  r.get('/', async (req, res) => {
    const q = parseOr400(imageListQuery, req.query, 'query');
    const filter = { sessionId: q.sessionId, format: q.format, status: q.status, minSize: q.minSize, sha256: q.sha256 };
    const newest = q.newest ?? q.beforeId !== undefined;
    const [images, total] = await Promise.all([
      rt.images.list({ ...filter, afterId: q.afterId, beforeId: q.beforeId }, q.limit, q.offset, newest),
      rt.images.count(filter),
    ]);
    res.json({ total, limit: q.limit, offset: q.offset, images });
  });

  r.get('/:id', async (req, res) => {
    const id = imageId(req.params.id);
    const row = await rt.images.get(id);
    if (!row) throw new HttpError(404, `no image ${id}`);
    res.json(row);
  });

  r.get('/:id/similar', async (req, res) => {
    const id = imageId(req.params.id);
    const q = parseOr400(similarQuery, req.query, 'query');
    const images = await rt.images.similar(id, q.maxDistance, q.limit, q.sessionId);
    if (images === null) throw new HttpError(404, (await rt.images.get(id)) ? `image ${id} has no perceptual hash (not a stored raster image, or the phash plugin is off)` : `no image ${id}`);
    res.json({ id, maxDistance: q.maxDistance, images });
  });

  r.get('/:id/file', async (req, res) => {
    const id = imageId(req.params.id);
    const row = await rt.images.get(id);
    if (!row) throw new HttpError(404, `no image ${id}`);
    if (row.status !== 'stored' || !row.file_path || !row.format) throw new HttpError(404, `image ${id} has no file (${row.error ?? row.status})`);
    if (!(await rt.store.has(row.file_path))) {
      // Missing here (not synced yet, lost, deleted): fetch it from a peer that has it, keeping the copy.
      const fetched = await rt.fileSync.pullFromPeers(ContentStore.nameOf(row.file_path));
      if (!fetched) throw new HttpError(404, `the file of image ${id} is missing on this host and on every reachable peer`);
    }
    res.set({
      'Content-Type': mimeTypeOf(row.format),
      ETag: `"${row.sha256}"`,
      'Cache-Control': 'private, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
      // An SVG from the web must not run script in our origin.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    });
    // If-None-Match (304 against the sha256 ETag above) and Range (206) are answered.
    await sendStoredFile(req, res, rt.store, row.file_path);
  });

  /** A small WebP of a stored image for galleries (SVG rasterised), cached by sha256. */
  r.get('/:id/thumb', async (req, res) => {
    const id = imageId(req.params.id);
    const row = await rt.images.get(id);
    if (!row) throw new HttpError(404, `no image ${id}`);
    if (row.status !== 'stored' || !row.file_path || !row.sha256) throw new HttpError(404, `image ${id} has no file (${row.error ?? row.status})`);
    if (!(await rt.store.has(row.file_path))) throw new HttpError(404, `the file of image ${id} is not on this host`);
    const thumb = await thumbnails.get(row.sha256, () => localPathOrBytes(rt.store, row.file_path as string)).catch((err: Error) => {
      throw new HttpError(422, `no thumbnail of image ${id}: ${err.message}`);
    });
    res.set({ 'Content-Type': 'image/webp', ETag: `"${row.sha256}-thumb"`, 'Cache-Control': 'private, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff' });
    await new Promise<void>((resolve, reject) => res.sendFile(thumb, { etag: false, lastModified: false, cacheControl: false }, (err) => (err && !res.headersSent ? reject(err) : resolve())));
  });

  r.delete('/:id', async (req, res) => {
    const id = imageId(req.params.id);
    const deleted = await deleteImage(rt, id);
    if (!deleted) throw new HttpError(404, `no image ${id}`);
    res.json({ deleted: true, id, fileRemoved: deleted.fileRemoved });
  });

  return r;
}

/** What sharp reads a stored file from: its path when local, its bytes from a bucket. */
async function localPathOrBytes(store: ImageStore, relative: string): Promise<string | Buffer> {
  return store instanceof ContentStore ? store.absolutePath(relative) : readStored(store, relative);
}
