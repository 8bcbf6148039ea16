/**
 * The tables a consistency check compares between database nodes, and how: the key rows are
 * ordered by, the expression that puts a row in a checksum bucket, the column that says which
 * row was written last, and the natural key that identifies "the same row" across nodes whose
 * id sequences went separate ways (used by the rescue after a failover).
 */
export interface TableSpec {
  table: string;
  key: string;
  /** The key as something min()/max() take (uuid has no ordering aggregate: its text). */
  keyOrder: string;
  /** SQL giving a row's bucket; `$size` is replaced by the rows per bucket. */
  bucket: string;
  latest: string;
  naturalKey: string[];
  /** The application deletes rows of this table (so a rescue may carry a deletion over). */
  deletable: boolean;
}

export const TABLE_SPECS: TableSpec[] = [
  // uuid keys: 256 buckets by the first two hex digits.
  { table: 'crawl_sessions', key: 'id', keyOrder: 'id::text', bucket: 'substr(id::text, 1, 2)', latest: 'updated_at', naturalKey: ['id'], deletable: false },
  { table: 'pages', key: 'id', keyOrder: 'id', bucket: 'id / $size', latest: 'updated_at', naturalKey: ['session_id', 'url'], deletable: true },
  { table: 'images', key: 'id', keyOrder: 'id', bucket: 'id / $size', latest: 'updated_at', naturalKey: ['session_id', 'url'], deletable: true },
  { table: 'failover_events', key: 'id', keyOrder: 'id', bucket: 'id / $size', latest: 'started_at', naturalKey: ['term', 'to_node'], deletable: false },
];

export function bucketSql(spec: TableSpec, bucketRows: number): string {
  return spec.bucket.replace('$size', String(bucketRows));
}
