import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { runCli, writeConfigFile } from '../support/cli';
import { TEST_DATABASE_URL, startTestRuntime, testConfig } from '../support/test-env';

/**
 * Secrets never leave: a crawl and the API's answers, with known tokens and passwords in the
 * configuration, must show none of them — not in logs, answers, metrics, exports or the audit.
 */
describe('secrets never leave', function () {
  this.timeout(90_000);

  it('no token or password appears in command output, logs, API answers, metrics or exports', async () => {
    const SECRETS = {
      db: 'pg-password-5ecret-0001', // trust authentication ignores it; it still sits in the URL
      api: 'api-token-5ecret-0123456789',
      sync: 'sync-token-5ecret-0123456789',
      smtp: 'smtp-password-5ecret-0002',
      jwt: 'jwt-shared-5ecret-0123456789-abcdefgh',
    };
    const dbUrl = TEST_DATABASE_URL.replace('postgres://postgres@', `postgres://postgres:${SECRETS.db}@`);
    const config = testConfig({
      database: { url: dbUrl },
      api: { token: SECRETS.api, jwt: { secret: SECRETS.jwt } },
      sync: { token: SECRETS.sync, peers: [{ name: 'elsewhere', url: 'http://127.0.0.1:9' }], host_name: 'here' },
      alerts: { email: { smtp_url: `smtp://alerts:${SMTP_PASS(SECRETS.smtp)}@127.0.0.1:9`, to: ['ops@example.test'] } },
    });
    config.log_level = 'debug';
    const site = await startSyntheticSite({ pages: 3, imagesPerPage: 3, minImageBytes: 600, maxImageBytes: 900, seed: 81, specials: true, slowMs: 20, slowSucceeds: true });
    const seen: string[] = [];
    try {
      const file = writeConfigFile(config);
      const crawl = await runCli(['crawl', site.startUrl, '--allow-net', '127.0.0.0/8', '--json', '--config', file], { LOG_LEVEL: 'debug' });
      expect(crawl.code, crawl.stderr).to.equal(0);
      seen.push(crawl.stdout, crawl.stderr);
      for (const args of [['export'], ['sessions', '--json'], ['status', '--json'], ['failures', '--json'], ['audit', '--json']]) {
        const run = await runCli([...args, '--config', file], { LOG_LEVEL: 'debug' });
        seen.push(run.stdout, run.stderr);
      }

      const t = await startTestRuntime(config, false);
      const server = createApp(t.rt, SECRETS.api).listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const auth = { Authorization: `Bearer ${SECRETS.api}` };
        for (const path of ['/api/crawl/status', '/api/images?limit=100', '/api/ha-status', '/api/sync-status', '/api/audit', '/metrics', '/api/openapi.json', '/api/health']) {
          seen.push(await (await fetch(base + path, { headers: auth })).text());
        }
        // A request carrying secrets in its body is audited with them redacted.
        await fetch(`${base}/api/sync/trigger`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ token: SECRETS.sync, password: SECRETS.db }) });
        seen.push(await (await fetch(`${base}/api/audit`, { headers: auth })).text());
      } finally {
        server.close();
        await t.close();
      }
    } finally {
      await site.close();
    }
    const everything = seen.join('\n');
    expect(everything.length).to.be.greaterThan(1000);
    for (const [what, secret] of Object.entries(SECRETS)) expect(everything.includes(secret), `the ${what} secret leaked`).to.equal(false);
  });
});

/** (The SMTP password in the URL, percent-encoded as a user would.) */
function SMTP_PASS(s: string): string {
  return encodeURIComponent(s);
}
