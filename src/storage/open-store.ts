import path from 'node:path';
import type { AppConfig } from '../config/config-schema';
import { ConfigError } from '../errors';
import type { PluginHost } from '../plugins/plugin-host';
import { ContentStore } from './content-store';
import type { ImageStore, ImageWriter } from './image-store';
import { HashingWriter, StagedStore } from './staged-store';
import { StoreWriter } from './store-writer';

/**
 * The image store `storage.backend` names, and the writer downloads reach it through: the local
 * directory, an S3 bucket, or the store a plugin offers (exactly one must).
 */
export function openImageStore(config: AppConfig, plugins: PluginHost): { store: ImageStore; writer: ImageWriter } {
  const s = config.storage;
  const offered = plugins.imageStores;
  if (s.backend === 'local') {
    if (offered.length > 0) throw new ConfigError(`plugin ${offered[0].name} offers an image store, but storage.backend is local: set storage.backend: plugin to use it`);
    return { store: new ContentStore(s.data_dir, s.fsync), writer: new StoreWriter(s.data_dir, s.fsync) };
  }
  let files;
  if (s.backend === 's3') {
    // Loaded only here: the AWS SDK costs every process ~0.2 s to load.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { S3Store } = require('./s3-store') as typeof import('./s3-store');
    files = new S3Store({ bucket: s.s3.bucket as string /* validated */, prefix: s.s3.prefix, endpoint: s.s3.endpoint, region: s.s3.region, forcePathStyle: s.s3.force_path_style });
  } else {
    if (offered.length !== 1) {
      throw new ConfigError(`storage.backend is plugin: ${offered.length === 0 ? 'no plugin offers an image store' : `several plugins offer one (${offered.map((o) => o.name).join(', ')})`}`);
    }
    files = offered[0].store;
  }
  return { store: new StagedStore(files, path.join(s.data_dir, 'staging')), writer: new HashingWriter(files) };
}
