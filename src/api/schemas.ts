import { z } from 'zod';

/**
 * Every request schema of the HTTP API, in one place: the routes validate with them and the
 * OpenAPI document (`openapi.ts`) is generated from them, so the two cannot drift.
 */

export { crawlRequestSchema } from '../crawler/crawl-options';

export const sessionId = z.string().uuid('must be a session id (UUID)');

export const sessionListQuery = z.object({
  sessionId: sessionId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const stopBody = z.object({ sessionId }).strict();

export const failuresQuery = z.object({ samples: z.coerce.number().int().min(0).max(1000).default(20) }).strict();

/** Image ids are decimal digits only (`0x10` and `1e3` are not ids). */
export const imageIdText = z.string().regex(/^[0-9]{1,30}$/, 'an image id is a decimal number');

export const imageListQuery = z
  .object({
    sessionId: sessionId.optional(),
    format: z.string().regex(/^[a-z0-9]{2,8}$/, 'a format name such as jpeg, png, webp').optional(),
    status: z.enum(['pending', 'stored', 'failed', 'skipped']).optional(),
    minSize: z.coerce.number().int().min(0).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex').optional(),
    /** Keyset paging (fast at any depth): rows after this id, oldest first… */
    afterId: z.coerce.number().int().min(0).optional(),
    /** …or before this id, newest first. */
    beforeId: z.coerce.number().int().min(1).optional(),
    /** Newest first. Default false. */
    newest: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

/** GET /api/images/:id/similar */
export const similarQuery = z
  .object({
    /** Bits in which the 64-bit perceptual hashes may differ. Default 10. */
    maxDistance: z.coerce.number().int().min(0).max(64).default(10),
    /** Only images of this session (default: every session). */
    sessionId: sessionId.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

/** A move of the primary asked for by an operator: to this node, or the best standby. */
export const primaryMoveBody = z.object({ to: z.string().optional() }).strict();

/** POST /api/backups: what to take now. */
export const backupRunBody = z
  .object({
    /** A database backup of this type (with a snapshot of the files), or a verification. Default incr. */
    type: z.enum(['full', 'diff', 'incr', 'verify']).default('incr'),
  })
  .strict();

export const backupsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const syncTriggerBody = z
  .object({
    /** What to run: a differential full file sync, a consistency check, or both (default). */
    what: z.enum(['full-sync', 'check', 'both']).default('both'),
    /** Run the check in this request and answer with its result, instead of queueing it. */
    wait: z.boolean().default(false),
    /** Restore missing or corrupt files from peers during the check. Default true. */
    repair: z.boolean().default(true),
  })
  .strict();

/** POST /api/batch: API calls run one after the other, each with the caller's own rights. */
export const batchBody = z
  .object({
    operations: z
      .array(
        z
          .object({
            method: z.enum(['GET', 'POST', 'PUT', 'DELETE']),
            /** An API path (with its query), e.g. "/api/images?limit=5". */
            path: z
              .string()
              .regex(/^\/api\//, 'an API path, starting with /api/')
              .refine((p) => !/^\/api\/(batch|events)\b/.test(p), 'a batch cannot hold /api/batch or /api/events'),
            body: z.unknown().optional(),
          })
          .strict(),
      )
      .min(1)
      .max(100, 'at most 100 operations'),
  })
  .strict();

export const auditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict();

export const syncControlBody = z.object({ action: z.enum(['pause', 'resume']) }).strict();
