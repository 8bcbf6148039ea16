import type { ZodTypeAny } from 'zod';
import type { Role } from './auth';
import { zodToJsonSchema } from 'zod-to-json-schema';
import {
  auditQuery,
  crawlRequestSchema,
  failuresQuery,
  imageListQuery,
  similarQuery,
  primaryMoveBody,
  sessionListQuery,
  stopBody,
  backupRunBody,
  batchBody,
  backupsQuery,
  syncControlBody,
  syncTriggerBody,
} from './schemas';

/** One operation of the main API: what the document says of it. Request shapes are the routes' own zod schemas. */
interface Operation {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form: `/api/images/{id}`. */
  path: string;
  summary: string;
  query?: ZodTypeAny;
  body?: ZodTypeAny;
  /** Path parameters, described. */
  params?: Record<string, string>;
  responses: Record<string, string>;
  /** No token needed. */
  open?: true;
  /** The least role that may call it (ignored when open). */
  role?: Role;
}

const sessionParam = { id: 'session id (UUID)' };
const imageParam = { id: 'image id (decimal)' };
const ok = (what: string) => ({ '200': what });
const problems = {
  '400': 'invalid input: `{"error"}` says what and where',
  '401': 'missing or wrong bearer token',
  '403': 'the token\'s role is below the one this needs (x-role)',
  '503': 'database or Redis unavailable for now (Retry-After)',
};

/** The main API (`image-crawler web`), as mounted by `createApp`. Host-to-host `/internal/sync` and Bull Board's UI are not part of it. */
export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/api/health', summary: 'Whether the database and Redis answer', responses: { '200': '`{"ok","database","redis"}`', '503': 'one of them is down' }, open: true },
  { method: 'get', path: '/api/openapi.json', summary: 'This document', responses: ok('OpenAPI 3.1'), open: true },
  { method: 'post', path: '/api/crawl/start', role: 'operator', summary: 'Start a crawl session', body: crawlRequestSchema, responses: { '202': '`{"sessionId","status","options"}`' } },
  { method: 'get', path: '/api/crawl/status', role: 'viewer', summary: 'Sessions, newest first (or one, with sessionId)', query: sessionListQuery, responses: ok('`{"sessions": [...]}` or one session') },
  { method: 'get', path: '/api/crawl/status/{id}', role: 'viewer', summary: "One session's status and counts", params: sessionParam, responses: { ...ok('the session'), '404': 'no such session' } },
  { method: 'get', path: '/api/crawl/failures/{id}', role: 'viewer', summary: 'Why URLs failed, grouped by reason', params: sessionParam, query: failuresQuery, responses: { ...ok('`{"sessionId","groups"}`'), '404': 'no such session' } },
  { method: 'get', path: '/api/crawl/timeline/{id}', role: 'viewer', summary: "Pages crawled, images stored and bytes per slice of the session's life (≤ 120 slices)", params: sessionParam, responses: { ...ok('`{"sessionId","sliceS","points": [{"t","pages","images","bytes"}]}`'), '404': 'no such session' } },
  { method: 'post', path: '/api/crawl/stop', role: 'operator', summary: 'Stop a session (queued work skipped, running jobs finish)', body: stopBody, responses: { ...ok('the session'), '404': 'no such session' } },
  { method: 'get', path: '/api/images', role: 'viewer', summary: 'Image rows, filtered and paged', query: imageListQuery, responses: ok('`{"total","limit","offset","images"}`') },
  { method: 'get', path: '/api/images/{id}', role: 'viewer', summary: 'One image row', params: imageParam, responses: { ...ok('the row'), '404': 'no such image' } },
  { method: 'get', path: '/api/images/{id}/file', role: 'viewer', summary: "The image's bytes (ETag = sha256; If-None-Match, Range)", params: imageParam, responses: { ...ok('the bytes'), '206': 'a range', '304': 'not modified', '404': 'no such image or no file' } },
  { method: 'get', path: '/api/images/{id}/similar', role: 'viewer', summary: 'Images whose perceptual hash (phash) is within maxDistance bits (default 10) of this one, nearest first (sessionId: of one session)', params: imageParam, query: similarQuery, responses: { ...ok('`{"id","maxDistance","images": [... "distance"]}`'), '404': 'no such image, or it has no phash' } },
  { method: 'get', path: '/api/images/{id}/thumb', role: 'viewer', summary: 'A WebP thumbnail (240 px, SVG rasterised), cached by sha256', params: imageParam, responses: { ...ok('image/webp'), '404': 'no such image or no file', '422': 'the file cannot be decoded' } },
  { method: 'delete', path: '/api/images/{id}', role: 'operator', summary: 'Delete a row, and its file when no other row uses it', params: imageParam, responses: { ...ok('`{"deleted","id","fileRemoved"}`'), '404': 'no such image' } },
  { method: 'get', path: '/api/ha-status', role: 'viewer', summary: 'Cluster nodes, roles, term, failovers', responses: ok('the status') },
  { method: 'post', path: '/api/ha/failover', role: 'admin', summary: 'Promote a standby now', body: primaryMoveBody, responses: { ...ok('the failover event'), '409': 'nothing can be done (no standby, another failover running)' } },
  { method: 'post', path: '/api/ha/switchover', role: 'admin', summary: 'Planned, lossless move of the primary', body: primaryMoveBody, responses: { ...ok('the switchover event'), '409': 'nothing can be done' } },
  { method: 'get', path: '/api/sync-status', role: 'viewer', summary: 'File sync across hosts: peers, queues, last full sync and check', responses: ok('the overview') },
  { method: 'get', path: '/api/ha/sync-status', role: 'viewer', summary: 'Same as /api/sync-status', responses: ok('the overview') },
  { method: 'get', path: '/api/sync', role: 'viewer', summary: 'Same as /api/sync-status', responses: ok('the overview') },
  { method: 'post', path: '/api/sync/trigger', role: 'admin', summary: 'Queue (or run) a full file sync and/or a consistency check', body: syncTriggerBody, responses: { '202': 'queued', ...ok('the check result (wait: true)') } },
  { method: 'post', path: '/api/sync/pause', role: 'admin', summary: 'Hold every copy, full sync and check', responses: ok('the overview') },
  { method: 'post', path: '/api/sync/resume', role: 'admin', summary: 'Release them', responses: ok('the overview') },
  { method: 'get', path: '/api/backups', role: 'viewer', summary: 'Backups and verifications, newest first, the last good one of each kind, the schedule', query: backupsQuery, responses: ok('the list') },
  { method: 'post', path: '/api/backups', role: 'admin', summary: 'Take a backup (or verify) now: queued for the backup process', body: backupRunBody, responses: { '202': 'queued' } },
  { method: 'post', path: '/api/sync', role: 'admin', summary: 'Pause or resume sync', body: syncControlBody, responses: ok('the overview') },
  { method: 'get', path: '/api/events', role: 'viewer', summary: 'Live events, as server-sent events or a WebSocket (same path; each message `{"event","data"}`): `progress` (a session view when it changed, at most once a second), `cluster` (term and primary), `alert`, `backup`, `sync`, `failover`, `rewind` (as they happen on any host)', responses: { ...ok('text/event-stream'), '101': 'WebSocket' } },
  { method: 'post', path: '/graphql', role: 'viewer', summary: 'GraphQL (graphql-http): sessions, images, cluster, sync, backups; mutations startCrawl, stopCrawl, deleteImage (operator, as their REST twins); depth ≤ 6 and at most 2,000 rows per query', responses: ok('`{"data","errors"?}`') },
  { method: 'get', path: '/graphql/schema', role: 'viewer', summary: 'The GraphQL schema (SDL)', responses: ok('text/plain') },
  { method: 'post', path: '/api/batch', role: 'viewer', summary: 'Up to 100 API calls in order, each with the caller\'s own role checked, audited and rate limited as if alone: `{"results": [{"status","body"}]}`', body: batchBody, responses: ok('the results, in order') },
  { method: 'get', path: '/api/audit', role: 'admin', summary: 'The audit log, newest first: who changed what, from where, with what outcome', query: auditQuery, responses: ok('`{"entries": [{"at","actor","role","ip","action","target","params","outcome"}]}`') },
  { method: 'get', path: '/metrics', role: 'viewer', summary: 'Prometheus metrics (text format)', responses: ok('metrics') },
];

function jsonSchema(schema: ZodTypeAny): Record<string, unknown> {
  // (Typed loosely: zod-to-json-schema's generics recurse too deep on the crawl request.)
  const convert = zodToJsonSchema as (s: unknown, o: object) => Record<string, unknown>;
  const { $schema: _drop, ...rest } = convert(schema, { target: 'openApi3', $refStrategy: 'none' });
  return rest;
}

/** OpenAPI 3.1 document of the main API, built from OPERATIONS and the zod schemas. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = Object.entries(op.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } }));
    if (op.query) {
      const schema = jsonSchema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(schema.properties ?? {})) parameters.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: s });
    }
    const responses = Object.fromEntries(Object.entries({ ...op.responses, ...(op.open ? {} : problems) }).map(([code, description]) => [code, { description }]));
    paths[op.path] ??= {};
    paths[op.path][op.method] = {
      summary: op.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } } } : {}),
      responses,
      ...(op.open ? { security: [] } : { 'x-role': op.role }),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'image-crawler',
      version,
      description:
        'The main API of image-crawler (`image-crawler web`). Every operation but the open ones needs `Authorization: Bearer <token>` whose role is at least its `x-role`: viewer < operator < admin (`API_TOKEN` is admin).',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
