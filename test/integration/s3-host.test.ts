import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import { expect } from 'chai';
import { runConsistencyCheck } from '../../src/consistency/consistency-check';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { S3Store } from '../../src/storage/s3-store';
import type { StagedStore } from '../../src/storage/staged-store';
import { RunningS3, startS3Server } from '../support/s3-server';
import { API_TOKEN, TwoHosts, startTwoHosts, waitForFiles, waitForSyncIdle } from '../support/two-hosts';
import { waitFor } from '../support/wait-for';

const ENV_KEYS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

describe('a host whose image store is an S3 bucket (storage.backend: s3)', function () {
  this.timeout(120_000);
  let s3: RunningS3;
  let hosts: TwoHosts;
  const savedEnv: Record<string, string | undefined> = {};
  const auth = { Authorization: `Bearer ${API_TOKEN}` };
  let files: string[] = [];

  before(async () => {
    s3 = await startS3Server('crawl-images');
    // Keys come from the environment, as in production (never from the config file).
    for (const [k, v] of Object.entries(ENV_KEYS)) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    hosts = await startTwoHosts({}, undefined, { backend: 's3', s3: { endpoint: s3.endpoint, bucket: s3.bucket, force_path_style: true, prefix: 'host-a/' } });
    await hosts.startB();
  });
  after(async () => {
    await hosts?.close();
    await s3?.close();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('crawls into the bucket (and receives the peer’s downloads there): every image stored once, its object hashing to its name, none on the local disk', async () => {
    expect((hosts.a.rt.store as StagedStore).files).to.be.instanceOf(S3Store);
    const site = await startSyntheticSite({ pages: 10, imagesPerPage: 6, minImageBytes: 1000, maxImageBytes: 4000, seed: 77, specials: false });
    try {
      const { id } = await hosts.a.rt.sessions.start({ urls: [site.startUrl] });
      expect((await hosts.a.waitForSession(id)).status).to.equal('completed');
      const rows = await hosts.a.rt.knex('images').where({ session_id: id });
      expect(rows.length).to.equal(site.expected.size);
      for (const row of rows) {
        const e = site.expected.get(row.url);
        expect(e?.ok && row.status === 'stored' && row.sha256 === e.sha256, row.url).to.equal(true);
      }
      files = [...new Set(rows.map((r) => r.file_path as string))];
    } finally {
      await site.close();
    }
    // Host B's worker shares the queues, so it downloaded part of the crawl into its own store:
    // those files reach the bucket through file sync (received in chunks, uploaded once whole).
    await waitFor('every stored file in host A’s bucket', async () => (await hosts.a.rt.store.inventory()).size === files.length, 30_000);
    expect([...(await hosts.a.rt.store.inventory())].sort()).to.deep.equal([...files].sort());
    for (const f of files) expect(await hosts.a.rt.store.check(f, null), f).to.equal('ok');
    expect(fs.existsSync(path.join(hosts.configA.storage.data_dir, 'images'))).to.equal(false);
  });

  it('its files reach a peer with a local store, and the API serves them from the bucket (whole, a range, 304)', async () => {
    await waitForFiles(hosts.storeB, files, 20_000);
    const row = await hosts.a.rt.knex('images').where({ status: 'stored', file_path: files[0] }).first();
    const whole = await axios.get(`${hosts.urlA}/api/images/${row.id}/file`, { headers: auth, responseType: 'arraybuffer' });
    expect(whole.status).to.equal(200);
    expect(createHash('sha256').update(Buffer.from(whole.data)).digest('hex')).to.equal(row.sha256);
    const part = await axios.get(`${hosts.urlA}/api/images/${row.id}/file`, { headers: { ...auth, Range: 'bytes=10-' }, responseType: 'arraybuffer' });
    expect(part.status).to.equal(206);
    expect(Buffer.from(part.data).equals(Buffer.from(whole.data).subarray(10))).to.equal(true);
    const again = await axios.get(`${hosts.urlA}/api/images/${row.id}/file`, { headers: { ...auth, 'If-None-Match': `"${row.sha256}"` }, validateStatus: () => true });
    expect(again.status).to.equal(304);
    const thumb = await axios.get(`${hosts.urlA}/api/images/${row.id}/thumb`, { headers: auth, responseType: 'arraybuffer' });
    expect(thumb.status).to.equal(200);
    expect(thumb.headers['content-type']).to.match(/image\/webp/);
  });

  it('a consistency check finds an object gone from the bucket and a file gone from the peer, and restores both', async () => {
    const [fromBucket, fromPeer] = files;
    await waitForSyncIdle(hosts.a, 15_000); // a copy still under way would mend it before the check looks
    await hosts.a.rt.store.remove(fromBucket);
    await hosts.storeB.remove(fromPeer);
    const name = (p: string) => p.split('/').pop();
    const report = await runConsistencyCheck(hosts.a.rt, 'api', true);
    const a = report.files.find((f) => f.host === 'hostA');
    const b = report.files.find((f) => f.host === 'hostB');
    expect(a).to.deep.include({ missing: [name(fromBucket)], repaired: [name(fromBucket)] });
    expect(b).to.deep.include({ missing: [name(fromPeer)], repaired: [name(fromPeer)] });
    expect(await hosts.a.rt.store.check(fromBucket, null)).to.equal('ok');
    await waitForFiles(hosts.storeB, [fromPeer], 10_000);
  });
});
