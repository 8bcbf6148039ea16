import path from 'node:path';
import type { AppConfig } from '../config/config-schema';
import { ContentStore } from './content-store';
import type { ImageStore, ImageWriter } from './image-store';
import { StoreWriter } from './store-writer';

/** The image store `storage.backend` names, and the writer downloads reach it through. */
export function openImageStore(config: AppConfig): { store: ImageStore; writer: ImageWriter } {
  const s = config.storage;
  if (s.backend === 's3') {
    // Loaded only here: the AWS SDK costs every process ~0.2 s to load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { S3Store, S3Writer } = require('./s3-store') as typeof import('./s3-store');
    const store = new S3Store({
      bucket: s.s3.bucket as string, // validated: backend s3 needs a bucket
      prefix: s.s3.prefix,
      endpoint: s.s3.endpoint,
      region: s.s3.region,
      forcePathStyle: s.s3.force_path_style,
      stagingDir: path.join(s.data_dir, 's3-staging'),
    });
    return { store, writer: new S3Writer(store) };
  }
  return { store: new ContentStore(s.data_dir, s.fsync), writer: new StoreWriter(s.data_dir, s.fsync) };
}
