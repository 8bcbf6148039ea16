import { expect } from 'chai';
import { Redis } from 'ioredis';
import { HaManager } from '../../src/ha/ha-manager';
import { startServer } from '../support/hostile-server';
import { freePortPair } from '../support/ports';
import { TEST_DATABASE_URL, TEST_REDIS_URL, deleteRedisPrefix, testConfig } from '../support/test-env';

describe('HA alerts', function () {
  this.timeout(60_000);

  it('database_down goes to the webhook once per cooldown, after the threshold', async () => {
    const received: unknown[] = [];
    const hook = await startServer({
      '/alerts': (req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          received.push(JSON.parse(body));
          res.writeHead(204).end();
        });
      },
    });
    const deadPort = await freePortPair(); // nothing listens there: a node that is down
    const config = testConfig({
      database: { nodes: [{ name: 'main', url: TEST_DATABASE_URL }, { name: 'gone', url: `postgres://postgres@127.0.0.1:${deadPort}/x` }] },
      ha: { probe_connect_timeout_ms: 500 },
      alerts: { webhook_url: `${hook.origin}/alerts`, database_down: { threshold: 2, cooldown_s: 300 } },
    });
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const manager = new HaManager(config, redis);
      await manager.check();
      expect(received).to.have.length(0); // one failure: below the threshold
      await manager.check();
      await manager.check();
      expect(received).to.have.length(1); // threshold reached; the third check is inside the cooldown
      expect(received[0]).to.deep.include({ kind: 'database_down', node: 'gone' });
      expect((received[0] as { message: string }).message).to.match(/gone failed 2 consecutive health checks: .*ECONNREFUSED/);
    } finally {
      redis.disconnect();
      await deleteRedisPrefix(config.redis.prefix);
      await hook.close();
    }
  });
});
