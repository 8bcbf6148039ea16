import { InvalidImageError, StorageError } from '../errors';
import type { ImageRecord, ImageRow } from '../db/image-repository';
import type { FetchResult } from '../http/http-client';
import type { ImageStatus } from '../db/image-repository';
import type { StatsDelta } from '../queues/session-counters';
import type { Runtime } from '../runtime';
import { ContentStore } from '../storage/content-store';
import { inspectImage } from '../storage/image-inspector';
import { getLogger } from '../logger';

/** What this module uses of the runtime (a handler takes only its few dependencies). */
export type IngestDeps = Pick<Runtime, 'config' | 'fileSync' | 'images' | 'plugins' | 'store' | 'storeWriter'>;

const log = getLogger('ingest');

export interface ImageOrigin {
  sessionId: string;
  url: string;
  pageUrl: string | null;
  via: string;
}

/**
 * A fetched body becomes a stored image: verified as an image (format, size, pixel budget),
 * hashed, written once to the content store, recorded. Used by the download worker and by
 * the crawl worker when a link turns out to be an image.
 */
export async function ingestImage(rt: IngestDeps, origin: ImageOrigin, res: FetchResult): Promise<StatsDelta> {
  let info;
  try {
    info = await inspectImage(res.body, rt.config.crawler.max_image_pixels, res.status);
  } catch (err) {
    const type = res.contentType.split(';')[0].trim();
    if (err instanceof InvalidImageError && type && !type.startsWith('image/')) {
      throw new InvalidImageError(`not an image: the server sent ${type} (${err.message})`, res.status);
    }
    throw err;
  }
  // The writer thread takes res.body over: image processors read a copy.
  const copy = rt.plugins.has('processImage') ? Buffer.from(res.body) : null;
  const { sha256, relativePath, created } = await rt.storeWriter.put(res.body, info.ext);
  const metadata = copy
    ? await rt.plugins.processImage({ sessionId: origin.sessionId, url: origin.url, pageUrl: origin.pageUrl, sha256, format: info.format, width: info.width, height: info.height, body: copy })
    : null;
  await rt.images.record({
    ...baseRecord(origin),
    status: 'stored',
    http_status: res.status,
    content_type: res.contentType.slice(0, 255) || null,
    filename: `${sha256}.${info.ext}`,
    file_path: relativePath,
    file_size: info.bytes,
    width: info.width,
    height: info.height,
    format: info.format,
    sha256,
    metadata,
    etag: res.etag ?? null,
    last_modified: res.lastModified ?? null,
  });
  await ensureFileKept(rt, origin, relativePath);
  if (created) {
    // A lost copy job is not a lost file: the periodic full sync finds what a peer lacks.
    await rt.fileSync.stored(ContentStore.parseName(`${sha256}.${info.ext}`)).catch((err) =>
      log.error('could not queue the copy of a file to the peers', { sha256, error: (err as Error).message }),
    );
  }
  return { images_stored: 1, bytes_downloaded: info.bytes, images_duplicate: created ? 0 : 1 };
}

/**
 * A re-crawl's 304: the image is recorded as stored with the earlier session's file, hash and
 * metadata, `revalidated`, without a download. The file is this host's (checked by the caller).
 */
export async function recordRevalidated(rt: IngestDeps, origin: ImageOrigin, earlier: ImageRow): Promise<StatsDelta> {
  await rt.images.record({
    ...baseRecord(origin),
    status: 'stored',
    http_status: 304,
    content_type: earlier.content_type,
    filename: earlier.filename,
    file_path: earlier.file_path,
    file_size: earlier.file_size,
    width: earlier.width,
    height: earlier.height,
    format: earlier.format,
    sha256: earlier.sha256,
    metadata: earlier.metadata ?? null,
    etag: earlier.etag ?? null,
    last_modified: earlier.last_modified ?? null,
    revalidated: true,
  });
  await ensureFileKept(rt, origin, earlier.file_path as string);
  return { images_stored: 1, images_revalidated: 1 }; // nothing downloaded: no bytes counted
}

/** A DELETE of the last other row may remove the file between our check and our record: then store it again. */
async function ensureFileKept(rt: IngestDeps, origin: ImageOrigin, relativePath: string): Promise<void> {
  if (await rt.store.exists(relativePath)) return;
  await rt.images.unstore(origin.sessionId, origin.url, relativePath);
  throw new StorageError(`the file of ${origin.url} was removed by a concurrent delete; storing it again`);
}

/** Records an image URL that was not stored (failed, or skipped because its session stopped), with the reason. */
export async function recordImageOutcome(
  rt: IngestDeps,
  origin: ImageOrigin,
  status: Exclude<ImageStatus, 'stored' | 'pending'>,
  httpStatus: number,
  error: string,
): Promise<StatsDelta> {
  await rt.images.record({ ...baseRecord(origin), status, http_status: httpStatus, error: error.slice(0, 2000) });
  return status === 'failed' ? { images_failed: 1, errors: 1 } : {};
}

function baseRecord(origin: ImageOrigin): ImageRecord {
  return {
    session_id: origin.sessionId,
    url: origin.url,
    page_url: origin.pageUrl,
    discovered_via: origin.via,
    status: 'failed',
    http_status: 0,
    content_type: null,
    filename: null,
    file_path: null,
    file_size: null,
    width: null,
    height: null,
    format: null,
    sha256: null,
    error: null,
  };
}

