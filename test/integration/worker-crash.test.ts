import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { spawnCli, writeConfigFile } from '../support/cli';
import { expectEveryImageStoredOnce, startTestRuntime, testConfig } from '../support/test-env';

describe('a worker killed mid-crawl', function () {
  this.timeout(120_000);

  it('loses nothing: another worker takes over and every image is recorded exactly once', async () => {
    const site = await startSyntheticSite({ pages: 40, imagesPerPage: 8, minImageBytes: 1000, maxImageBytes: 3000, seed: 11, specials: false });
    // Short locks so a dead worker's jobs come back quickly.
    const config = testConfig({ worker: { lock_duration_ms: 2000, stalled_interval_ms: 1000, attempts: 3 } });
    const configFile = writeConfigFile(config);
    const t = await startTestRuntime(config, false); // this process only starts the session and watches
    const children: ChildProcess[] = [];
    try {
      const first = spawnCli(['worker', '--config', configFile, '--concurrency', '8']);
      children.push(first);
      // A 20-ms gap per request to the host: the crawl lasts seconds, so the kill lands mid-crawl on a fast machine too.
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl], politenessDelayMs: 20 });
      while (((await t.rt.sessions.view(id))?.images_stored ?? 0) < 30) await new Promise((r) => setTimeout(r, 20));
      first.kill('SIGKILL');
      await once(first, 'exit');
      const atKill = await t.rt.sessions.view(id);
      expect(atKill?.status).to.equal('running');
      expect(atKill?.pending).to.be.greaterThan(0);

      children.push(spawnCli(['worker', '--config', configFile]));
      const view = await t.waitForSession(id, 90_000);
      expect(view.status).to.equal('completed');
      await expectEveryImageStoredOnce(t, site, id);
      expect(view.images_stored).to.equal(site.expected.size);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await t.close();
      await site.close();
    }
  });
});
