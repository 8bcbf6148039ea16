import type { Express, Request } from 'express';
import { GraphQLError, Kind, buildSchema, type ASTVisitor, type FieldNode, type ValidationContext } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/express';
import { BackupService } from '../backup/backup-service';
import { crawlRequestSchema } from '../crawler/crawl-options';
import type { ImageRow } from '../db/image-repository';
import { HaManager } from '../ha/ha-manager';
import { haStatus } from '../ha/ha-status';
import type { Runtime } from '../runtime';
import type { SessionView } from '../sessions/session-service';
import { deleteImage } from '../storage/delete-image';
import { syncOverview } from '../sync/sync-overview';
import { Caller, Role, allows } from './auth';

/** The GraphQL schema (SDL): what `GET /graphql/schema` serves. */
export const GRAPHQL_SDL = `
"""A crawl session; counts as in GET /api/crawl/status."""
type Session {
  id: ID!
  status: String!
  startUrls: [String!]!
  startedAt: String!
  finishedAt: String
  pagesCrawled: Int!
  pagesFailed: Int!
  imagesFound: Int!
  imagesStored: Int!
  imagesFailed: Int!
  imagesDuplicate: Int!
  "Kept by a 304 to a re-crawl's conditional request: stored without a download."
  imagesRevalidated: Int!
  bytesDownloaded: Float!
  pending: Int!
  successRate: Float
}

type Image {
  id: ID!
  sessionId: ID!
  url: String!
  pageUrl: String
  status: String!
  httpStatus: Int!
  format: String
  width: Int
  height: Int
  fileSize: Int
  sha256: String
  error: String
  """64-bit perceptual hash, 16 hex digits (with the phash plugin on)."""
  phash: String
  """Stored by a re-crawl's 304 (the earlier session's file kept)."""
  revalidated: Boolean!
  """Other rows with the same content (exact duplicates), at most 50."""
  sameContent(limit: Int = 10): [Image!]!
  """Images whose phash is within maxDistance bits of this one's (near-duplicates: resized, re-encoded), nearest first, at most 50; of one session when sessionId is given."""
  similar(maxDistance: Int = 10, limit: Int = 10, sessionId: ID): [Image!]!
}

type ClusterNode {
  name: String!
  role: String!
  healthy: Boolean!
  """The node a standby streams from (null: not streaming from the primary)."""
  streamsFrom: String
  lagBytes: Float
  lastError: String
}

type Failover {
  term: Int!
  fromNode: String
  toNode: String
  outcome: String
  startedAt: String
}

type Cluster {
  enabled: Boolean!
  term: Int!
  primary: String
  nodes: [ClusterNode!]!
  failovers: [Failover!]!
}

type SyncPeer {
  name: String!
  waiting: Int!
  active: Int!
  failed: Int!
}

type Sync {
  host: String!
  paused: Boolean!
  peers: [SyncPeer!]!
  lastFullSyncAt: String
  lastFullSyncOk: Boolean
}

type Backup {
  id: ID!
  kind: String!
  status: String!
  trigger: String!
  startedAt: String!
  finishedAt: String
  label: String
  filesSnapshot: String
  sourceNode: String
  error: String
}

type Query {
  sessions(limit: Int = 20, offset: Int = 0): [Session!]!
  session(id: ID!): Session
  images(sessionId: ID, status: String, format: String, sha256: String, afterId: Int, limit: Int = 50): [Image!]!
  image(id: ID!): Image
  cluster: Cluster!
  sync: Sync!
  backups(limit: Int = 20): [Backup!]!
}

type Mutation {
  """Operator. As POST /api/crawl/start."""
  startCrawl(urls: [String!]!, maxPages: Int, maxDepth: Int, followExternal: Boolean, respectRobots: Boolean, since: ID, render: Boolean): Session!
  """Operator. As POST /api/crawl/stop."""
  stopCrawl(id: ID!): Session
  """Operator. As DELETE /api/images/:id; true when there was such an image."""
  deleteImage(id: ID!): Boolean!
}
`;

/** Longest a list may be asked for; a larger `limit` is an error, not a silent cut. */
const MAX_LIMIT = 500;
/** Selections nested deeper than this are refused. */
const MAX_DEPTH = 6;
/** A query's cost: every list counts the rows it may return (its limit, times the lists it is in); more is refused. */
const MAX_COST = 2000;

interface Context {
  caller: Caller;
}

function need(ctx: Context, role: Role): void {
  if (!allows(ctx.caller, role)) throw new GraphQLError(`forbidden: ${ctx.caller.name} has the ${ctx.caller.role} role, this needs ${role}`, { extensions: { code: 'FORBIDDEN' } });
}

function limitOf(value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new GraphQLError(`limit must be 1–${MAX_LIMIT}, got ${n}`, { extensions: { code: 'BAD_USER_INPUT' } });
  return n;
}

const session = (v: SessionView) => ({
  id: v.id,
  status: v.status,
  startUrls: v.start_urls,
  startedAt: new Date(v.started_at).toISOString(),
  finishedAt: v.finished_at ? new Date(v.finished_at).toISOString() : null,
  pagesCrawled: v.pages_crawled,
  pagesFailed: v.pages_failed,
  imagesFound: v.images_found,
  imagesStored: v.images_stored,
  imagesFailed: v.images_failed,
  imagesDuplicate: v.images_duplicate,
  imagesRevalidated: v.images_revalidated,
  bytesDownloaded: Number(v.bytes_downloaded),
  pending: v.pending,
  successRate: v.success_rate,
});

/**
 * `POST /graphql` (graphql-http): the same services as the REST routes — sessions, images,
 * cluster, sync, backups; start and stop crawls, delete images — with the same roles (the route
 * needs a viewer; mutations an operator, as their REST twins), and limits on depth and cost so
 * that one query cannot read the database wholesale.
 */
export function graphqlHandler(rt: Runtime) {
  const manager = new HaManager(rt.config, rt.redis);
  const backups = new BackupService(rt.config, rt.knex, () => rt.router.primary);
  const image = (row: ImageRow) => ({
    id: String(row.id),
    sessionId: row.session_id,
    url: row.url,
    pageUrl: row.page_url,
    status: row.status,
    httpStatus: row.http_status,
    format: row.format,
    width: row.width,
    height: row.height,
    fileSize: row.file_size === null ? null : Number(row.file_size),
    sha256: row.sha256,
    error: row.error,
    phash: typeof row.metadata?.phash === 'string' ? row.metadata.phash : null,
    revalidated: row.revalidated === true,
    similar: async ({ maxDistance, limit, sessionId }: { maxDistance?: number; limit?: number; sessionId?: string }) => {
      const bits = Math.max(0, Math.min(64, maxDistance ?? 10));
      const session = sessionId && /^[0-9a-f-]{36}$/i.test(sessionId) ? sessionId : undefined;
      return ((await rt.images.similar(row.id, bits, Math.min(limitOf(limit, 10), 50), session)) ?? []).map(image);
    },
    sameContent: async ({ limit }: { limit?: number }) => (row.sha256 ? (await rt.images.list({ sha256: row.sha256 }, Math.min(limitOf(limit, 10), 50) + 1)).filter((r) => r.id !== row.id).map(image) : []),
  });
  const rootValue = {
    sessions: async ({ limit, offset }: { limit?: number; offset?: number }) => (await rt.sessions.list(limitOf(limit, 20), Math.max(0, offset ?? 0))).map(session),
    session: async ({ id }: { id: string }) => {
      const v = /^[0-9a-f-]{36}$/i.test(id) ? await rt.sessions.view(id) : undefined;
      return v ? session(v) : null;
    },
    images: async (args: { sessionId?: string; status?: string; format?: string; sha256?: string; afterId?: number; limit?: number }) =>
      (await rt.images.list({ sessionId: args.sessionId, status: args.status as ImageRow['status'], format: args.format, sha256: args.sha256, afterId: args.afterId }, limitOf(args.limit, 50))).map(image),
    image: async ({ id }: { id: string }) => {
      const row = /^[0-9]{1,15}$/.test(id) ? await rt.images.get(Number(id)) : undefined;
      return row ? image(row) : null;
    },
    cluster: async () => {
      const s = await haStatus(rt.config, manager);
      return {
        ...s,
        nodes: s.nodes.map((n) => ({ name: n.name, role: n.role, healthy: n.healthy, streamsFrom: n.streamsFrom, lagBytes: n.lagBytes, lastError: n.lastError })),
        failovers: s.failovers.map((f) => ({ term: f.term, fromNode: f.from, toNode: f.to, outcome: f.outcome, startedAt: new Date(f.startedAt).toISOString() })),
      };
    },
    sync: async () => {
      const o = await syncOverview(rt);
      return { host: o.host, paused: o.paused, peers: o.peers, lastFullSyncAt: o.lastFullSync?.startedAt ?? null, lastFullSyncOk: o.lastFullSync?.ok ?? null };
    },
    backups: async ({ limit }: { limit?: number }) =>
      (await backups.list(limitOf(limit, 20))).map((b) => ({
        id: String(b.id),
        kind: b.kind,
        status: b.status,
        trigger: b.trigger,
        startedAt: new Date(b.started_at).toISOString(),
        finishedAt: b.finished_at ? new Date(b.finished_at).toISOString() : null,
        label: b.label,
        filesSnapshot: b.files_snapshot,
        sourceNode: b.source_node,
        error: b.error,
      })),
    startCrawl: async (args: Record<string, unknown>, ctx: Context) => {
      need(ctx, 'operator');
      const parsed = crawlRequestSchema.safeParse(Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined && v !== null)));
      if (!parsed.success) throw new GraphQLError(`invalid crawl request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { extensions: { code: 'BAD_USER_INPUT' } });
      const { id } = await rt.sessions.start(parsed.data);
      return session((await rt.sessions.view(id)) as SessionView);
    },
    stopCrawl: async ({ id }: { id: string }, ctx: Context) => {
      need(ctx, 'operator');
      const v = /^[0-9a-f-]{36}$/i.test(id) ? await rt.sessions.stop(id) : undefined;
      return v ? session(v) : null;
    },
    deleteImage: async ({ id }: { id: string }, ctx: Context) => {
      need(ctx, 'operator');
      return /^[0-9]{1,15}$/.test(id) ? (await deleteImage(rt, Number(id))) !== null : false;
    },
  };
  return createHandler({
    schema,
    rootValue,
    context: (req) => ({ caller: req.context.res.locals.caller as Caller }),
    validationRules: [depthLimit, costLimit],
  });
}

const schema = buildSchema(GRAPHQL_SDL);

/** Refuses selections nested deeper than MAX_DEPTH. */
function depthLimit(ctx: ValidationContext): ASTVisitor {
  const depthOf = (field: FieldNode, depth: number): number =>
    Math.max(depth, ...(field.selectionSet?.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD).map((s) => depthOf(s, depth + 1)) ?? []));
  return {
    OperationDefinition(node) {
      for (const s of node.selectionSet.selections) {
        if (s.kind === Kind.FIELD && depthOf(s, 1) > MAX_DEPTH) ctx.reportError(new GraphQLError(`query too deep: more than ${MAX_DEPTH} levels`));
      }
    },
  };
}

/** Refuses a query that may return more than MAX_COST rows in all (a variable limit counts as the largest allowed). */
function costLimit(ctx: ValidationContext): ASTVisitor {
  const LISTS: Record<string, number> = { sessions: 20, images: 50, backups: 20, sameContent: 10, similar: 10, failovers: 10, nodes: 3, peers: 3 };
  const costOf = (field: FieldNode, multiplier: number): number => {
    const base = LISTS[field.name.value];
    let rows = 1;
    if (base !== undefined) {
      const arg = field.arguments?.find((a) => a.name.value === 'limit')?.value;
      rows = arg?.kind === Kind.INT ? Number(arg.value) : arg?.kind === Kind.VARIABLE ? MAX_LIMIT : base;
    }
    const here = multiplier * rows;
    const children = field.selectionSet?.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD) ?? [];
    return (base !== undefined ? here : 0) + children.reduce((sum, c) => sum + costOf(c, here), 0);
  };
  return {
    OperationDefinition(node) {
      const cost = node.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD).reduce((sum, s) => sum + costOf(s, 1), 0);
      if (cost > MAX_COST) ctx.reportError(new GraphQLError(`query too costly: it may read ${cost} rows, at most ${MAX_COST} are allowed (lower the limits)`));
    },
  };
}

/** Mounts POST /graphql and GET /graphql/schema (the route's authentication comes first, from guardApi). */
export function mountGraphql(app: Express, rt: Runtime): void {
  const handler = graphqlHandler(rt);
  app.post('/graphql', (req: Request, res, next) => handler(req, res, next));
  app.get('/graphql/schema', (_req, res) => res.type('text/plain').send(GRAPHQL_SDL.trim() + '\n'));
}
