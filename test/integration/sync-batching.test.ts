import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { createHaApp } from '../../src/api/ha-routes';
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

  it('pause and resume hold every copy, full sync and check (main API and HA API)', async () => {
    const token = 'sync-test-token-0123456789';
    const t = await startTestRuntime(testConfig({ sync: { host_name: 'here', peers, token } }), false);
    const main = createApp(t.rt, token).listen(0, '127.0.0.1');
    const ha = createHaApp(t.rt, token).listen(0, '127.0.0.1');
    await Promise.all([once(main, 'listening'), once(ha, 'listening')]);
    const url = (s: typeof main) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const auth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    try {
      const paused = await fetch(`${url(main)}/api/sync/pause`, { method: 'POST', headers: auth });
      expect(await paused.json()).to.deep.equal({ paused: true });
      const fs = t.rt.fileSync;
      for (const q of [fs.queue, fs.checkQueue, ...fs.pushQueues.values()]) expect(await q.isPaused(), q.name).to.equal(true);
      const status = (await (await fetch(`${url(ha)}/api/sync-status`, { headers: auth })).json()) as { peers: { name: string }[] };
      expect(status).to.deep.include({ host: 'here', paused: true });
      expect(status.peers.map((p: { name: string }) => p.name)).to.deep.equal(['peer-1', 'peer-2']);

      const bad = await fetch(`${url(ha)}/api/sync`, { method: 'POST', headers: auth, body: JSON.stringify({ action: 'stop' }) });
      expect(bad.status).to.equal(400);
      const resumed = await fetch(`${url(ha)}/api/sync`, { method: 'POST', headers: auth, body: JSON.stringify({ action: 'resume' }) });
      expect(await resumed.json()).to.deep.equal({ paused: false });
      expect(await fs.queue.isPaused()).to.equal(false);
      const queued = await fetch(`${url(ha)}/api/sync/trigger`, { method: 'POST', headers: auth, body: JSON.stringify({ what: 'check' }) });
      expect(queued.status).to.equal(202);
      expect((await fs.checkQueue.getJobCounts('waiting')).waiting).to.equal(1);
    } finally {
      main.close();
      ha.close();
      await t.close();
    }
  });

  it('refuses peers without a shared token, and a peer that is this host', () => {
    expect(() => testConfig({ sync: { peers } })).to.throw(ConfigError, /sync\.peers needs sync\.token \(SYNC_TOKEN\)/);
    expect(() => testConfig({ api: { token: 'same-token-0123456789' }, sync: { peers, token: 'same-token-0123456789' } })).to.throw(ConfigError, /sync\.token must differ from every API token/);
    expect(() => testConfig({ sync: { host_name: 'peer-1', peers, token: 'sync-test-token-0123456789' } })).to.throw(ConfigError, /names this host itself/);
    expect(() => testConfig({ sync: { peers: [{ name: 'x', url: 'not a url' }] } })).to.throw(ConfigError, /sync\.peers\.0\.url/);
  });
});
