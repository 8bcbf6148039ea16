import { expect } from 'chai';
import { Redis } from 'ioredis';
import { acquireLock } from '../../src/queues/redis-lock';
import { TEST_REDIS_URL, uniquePrefix } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('Redis locks (leader, sweeper)', () => {
  let redis: Redis;
  const key = `${uniquePrefix()}:lock`;
  before(() => {
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it('a holder whose lock expired cannot release the next holder’s lock', async () => {
    const first = await acquireLock(redis, key, 200);
    expect(first).to.not.equal(null);
    expect(await acquireLock(redis, key, 200)).to.equal(null);
    // The first holder freezes (its renewals stop): the lock lapses and another process takes it.
    await redis.set(key, 'someone-else', 'PX', 5000);
    await waitFor('the first holder notices it lost the lock', () => first?.held === false, 2000);
    await first?.release();
    expect(await redis.get(key)).to.equal('someone-else');
    await redis.del(key);
  });

  it('is renewed while its work runs, and released at the end', async () => {
    const lock = await acquireLock(redis, key, 300);
    const until = Date.now() + 1000;
    await waitFor('a second past the lock’s lifetime', () => Date.now() > until, 2000);
    expect(lock?.held).to.equal(true);
    expect(await redis.pttl(key)).to.be.greaterThan(0);
    await lock?.release();
    expect(await redis.exists(key)).to.equal(0);
  });
});
