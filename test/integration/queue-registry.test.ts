import { expect } from 'chai';
import { Redis } from 'ioredis';
import { ConsumersOf, QUEUES, openQueue, startConsumers } from '../../src/queues/queue-registry';
import { TEST_REDIS_URL, deleteRedisPrefix, testConfig, uniquePrefix } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('the queue registry', () => {
  const prefix = uniquePrefix();
  const config = testConfig({ redis: { prefix }, worker: { attempts: 4 }, sync: { max_retries: 2 } });
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const ctx = { redis, config };

  after(async () => {
    redis.disconnect();
    await deleteRedisPrefix(prefix);
  });

  it('gives every queue its attempts, backoff and retention from one place', async () => {
    const crawl = openQueue('crawl', ctx);
    const push = openQueue('push', ctx, 'sync.a.b');
    const backup = openQueue('backup', ctx);
    try {
      expect(crawl.name).to.equal('crawl');
      expect(push.name).to.equal('sync.a.b');
      expect(crawl.defaultJobOptions).to.include({ attempts: 4 });
      expect(crawl.defaultJobOptions.backoff).to.deep.equal({ type: 'crawler' });
      expect(push.defaultJobOptions).to.include({ attempts: 3 });
      expect(backup.defaultJobOptions).to.include({ attempts: 1 });
      expect(backup.defaultJobOptions.removeOnComplete).to.deep.equal({ count: 100 });
      expect(Object.keys(QUEUES).sort()).to.deep.equal(['backup', 'check', 'crawl', 'download', 'health', 'push', 'sync']);
    } finally {
      await Promise.all([crawl.close(), push.close(), backup.close()]);
    }
  });

  it('runs each job through its kind’s handler and reports a failed one', async () => {
    const seen: string[] = [];
    const failed: string[] = [];
    const consumers: ConsumersOf<'worker'> = {
      crawl: [{ handle: async (job) => seen.push(`crawl ${job.data.url}`) }],
      download: [],
      health: [],
      sync: [
        {
          handle: async (job) => {
            throw new Error(`no ${job.data.kind} today`);
          },
          onFailed: (job, err) => failed.push(`${job?.data.kind}: ${err.message}`),
        },
      ],
      check: [],
      push: [],
    };
    const workers = startConsumers(consumers, ctx);
    const crawl = openQueue('crawl', ctx);
    const sync = openQueue('sync', ctx);
    try {
      await crawl.add('page', { sessionId: 's', url: 'http://a.test/', depth: 0, kind: 'page', referrer: null });
      await sync.add('full-sync', { kind: 'full-sync', reason: 'test' });
      await waitFor('the crawl job to reach its handler', () => seen.length === 1);
      await waitFor('the failed sync job to be reported', () => failed.length === 1);
      expect(seen).to.deep.equal(['crawl http://a.test/']);
      expect(failed).to.deep.equal(['full-sync: no full-sync today']);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([crawl.close(), sync.close()]);
    }
  });

  it('does not compile a process that leaves out a queue it consumes, or a handler of the wrong payload', () => {
    // These lines are the test: `npm test` type-checks them first, and each must be an error.
    // @ts-expect-error the worker process consumes `push` too
    const missing: ConsumersOf<'worker'> = { crawl: [], download: [], health: [], sync: [], check: [] };
    // @ts-expect-error a backup job has no `url`
    const wrong: ConsumersOf<'backup'> = { backup: [{ handle: async (job) => job.data.url }] };
    expect([missing, wrong]).to.have.length(2);
  });
});
