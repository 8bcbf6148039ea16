import type { Queue } from 'bullmq';
import { getLogger } from '../logger';
import { Consumer, QueueContext, RETENTION, openQueue } from '../queues/queue-registry';
import type { PluginHost } from '../plugins/plugin-host';
import { HaManager } from './ha-manager';

const log = getLogger('ha');
const SCHEDULER_ID = 'health-check';

export interface HealthChecks {
  manager: HaManager;
  queue: Queue;
  /** The `health` queue's consumer, for startConsumers. */
  consumer: Consumer<'health'>;
  close(): Promise<void>;
}

/**
 * The 5-second health check as a repeatable BullMQ job: every process that touches the
 * database registers the same job scheduler (idempotent) and consumes the `health` queue, so
 * exactly one check runs per interval however many processes there are, and the checks go on
 * while any one of them lives. Nothing to do for a single-node configuration.
 */
export async function scheduleHealthChecks(deps: QueueContext & { plugins: PluginHost }): Promise<HealthChecks | null> {
  const { config } = deps;
  if (config.database.nodes.length === 0) return null;
  const manager = new HaManager(config, deps.redis, deps.plugins);
  const queue = openQueue('health', deps);
  await queue.upsertJobScheduler(SCHEDULER_ID, { every: Math.round(config.ha.health_check_interval_s * 1000) }, { name: SCHEDULER_ID, opts: RETENTION.housekeeping });
  return {
    manager,
    queue,
    consumer: {
      async handle() {
        const { verdict, view } = await manager.check();
        return { term: view.term, primary: view.primary, decision: verdict.decision.kind, needsRejoin: verdict.needsRejoin };
      },
      options: { concurrency: 1 },
      onFailed: (_job, err) => log.error('health check failed', { error: err.message }),
    },
    close: () => queue.close(),
  };
}
