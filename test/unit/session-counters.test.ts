import { expect } from 'chai';
import { Redis } from 'ioredis';
import { SessionCounters } from '../../src/queues/session-counters';
import { TEST_REDIS_URL, uniquePrefix } from '../support/test-env';

describe('session counters (real Redis)', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    await redis.quit();
  });

  it('counts URLs finished together in one round trip; exactly one of them learns the session is drained', async () => {
    const prefix = uniquePrefix();
    const counters = new SessionCounters(redis, prefix);
    await counters.claimed('s1', 200);
    await counters.claimed('s2', 5);
    const hints = await Promise.all([
      ...Array.from({ length: 200 }, (_, i) => counters.finished('s1', { images_stored: 1, bytes_downloaded: i })),
      ...Array.from({ length: 3 }, () => counters.finished('s2', { images_failed: 1, errors: 1 })),
    ]);
    expect(hints.slice(0, 200).filter((h) => h <= 0)).to.have.length(1);
    expect(hints.slice(200).filter((h) => h <= 0)).to.have.length(0);
    const s1 = await counters.read('s1');
    expect(s1.images_stored).to.equal(200);
    expect(s1.bytes_downloaded).to.equal((199 * 200) / 2);
    expect((await counters.read('s2')).errors).to.equal(3);
    const keys = await redis.keys(`${prefix}:*`);
    await redis.del(...keys);
  });
});
