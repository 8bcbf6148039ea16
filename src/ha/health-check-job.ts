import { Queue, Worker } from 'bullmq';
import { RETENTION, openQueue } from '../queues/queues';
import { getLogger, throttledError } from '../logger';
import { QUEUE_NAMES } from '../queues/job-types';
import type { Runtime } from '../runtime';
import { HaManager } from './ha-manager';

const log = getLogger('ha');
const SCHEDULER_ID = 'health-check';

export interface HealthChecks {
  manager: HaManager;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * The 5-second health check as a repeatable BullMQ job: every process that touches the
 * database registers the same job scheduler (idempotent) and consumes the `health` queue, so
 * exactly one check runs per interval however many processes there are, and the checks go on
 * while any one of them lives. Nothing to do for a single-node configuration.
 */
export async function startHealthChecks(rt: Runtime): Promise<HealthChecks | null> {
  if (rt.config.database.nodes.length === 0) return null;
  const connection = rt.redis;
  const prefix = rt.config.redis.prefix;
  const manager = new HaManager(rt.config, rt.redis, rt.plugins);
  const queue = openQueue(QUEUE_NAMES.health, { connection, prefix });
  await queue.upsertJobScheduler(
    SCHEDULER_ID,
    { every: Math.round(rt.config.ha.health_check_interval_s * 1000) },
    { name: SCHEDULER_ID, opts: RETENTION.housekeeping },
  );
  const worker = new Worker(
    QUEUE_NAMES.health,
    async () => {
      const { verdict, view } = await manager.check();
      return { term: view.term, primary: view.primary, decision: verdict.decision.kind, needsRejoin: verdict.needsRejoin };
    },
    { connection, prefix, concurrency: 1 },
  );
  worker.on('failed', (_job, err) => log.error('health check failed', { error: err.message }));
  const report = throttledError(log, 'health worker error');
  worker.on('error', (err) => report(err));
  return {
    manager,
    queue,
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
