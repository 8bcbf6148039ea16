import { expect } from 'chai';
import { ConfigError } from '../../src/errors';
import { ContentStore } from '../../src/storage/content-store';
import { startTestRuntime, testConfig } from '../support/test-env';

const name = (i: number) => ContentStore.parseName(`${i.toString(16).padStart(64, '0')}.png`);

describe('file sync modes', () => {
  const peers = [
    { name: 'peer-1', url: 'http://127.0.0.1:9' },
    { name: 'peer-2', url: 'http://127.0.0.1:9' },
  ];

  it('realtime: one copy job per stored file for every peer; a file queued twice is one job', async () => {
    const t = await startTestRuntime(testConfig({ sync: { host_name: 'here', peers, token: 'sync-test-token-0123456789' } }), false);
    try {
      for (const i of [1, 2, 3, 3]) await t.rt.fileSync.stored(name(i));
      for (const q of t.rt.fileSync.pushQueues.values()) {
        const jobs = await q.getJobs(['waiting']);
        expect(jobs.map((j) => j.data.files.length)).to.deep.equal([1, 1, 1]);
      }
      expect([...t.rt.fileSync.pushQueues.values()].map((q) => q.name)).to.deep.equal(['sync.here.peer-1', 'sync.here.peer-2']);
    } finally {
      await t.close();
    }
  });

  it('batched: sync_batch_size files per job, the rest after sync_interval_s', async () => {
    const t = await startTestRuntime(testConfig({ sync: { host_name: 'here', peers, token: 'sync-test-token-0123456789', mode: 'batched', batch_size: 3, sync_interval_s: 0.3 } }), false);
    try {
      for (let i = 1; i <= 7; i++) await t.rt.fileSync.stored(name(i));
      const queue = t.rt.fileSync.pushQueues.get('peer-1');
      expect((await queue?.getJobs(['waiting']))?.map((j) => j.data.files.length).sort()).to.deep.equal([3, 3]);
      await new Promise((r) => setTimeout(r, 600));
      expect((await queue?.getJobs(['waiting']))?.map((j) => j.data.files.length).sort()).to.deep.equal([1, 3, 3]);
    } finally {
      await t.close();
    }
  });

  it('refuses peers without a shared token, and a peer that is this host', () => {
    expect(() => testConfig({ sync: { peers } })).to.throw(ConfigError, /sync\.peers needs sync\.token or api\.token/);
    expect(() => testConfig({ sync: { host_name: 'peer-1', peers, token: 'sync-test-token-0123456789' } })).to.throw(ConfigError, /names this host itself/);
    expect(() => testConfig({ sync: { peers: [{ name: 'x', url: 'not a url' }] } })).to.throw(ConfigError, /sync\.peers\.0\.url/);
  });
});
