import { tempDir } from './test-env';

/** s3rver ships no types: the part of it the tests use. */
type S3rverCtor = new (options: { port: number; address: string; silent: boolean; directory: string; configureBuckets: { name: string }[] }) => {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as S3rverCtor;

export interface RunningS3 {
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

/** A real S3 API server (s3rver) on 127.0.0.1 with one empty bucket, its objects in a temporary directory. */
export async function startS3Server(bucket = 'images'): Promise<RunningS3> {
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir('s3'), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, bucket, close: () => server.close() };
}
