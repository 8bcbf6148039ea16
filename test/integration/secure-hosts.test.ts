import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { expect } from 'chai';
import { Agent, fetch } from 'undici';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { makeCertificates } from '../support/certs';
import { tempDir } from '../support/test-env';
import { API_TOKEN, SYNC_TOKEN, TwoHosts, startTwoHosts, waitForFiles } from '../support/two-hosts';

const VIEWER = 'grafana-token-0123456789';

/**
 * The README's "Securing two hosts", end to end on one machine: both hosts serve HTTPS with a
 * certificate from the test's CA, let only 127.0.0.0/8 in, give a viewer token next to the admin
 * one, and copy files to each other over HTTPS with their own sync token, verified against the CA.
 */
describe('two hosts secured as the README says', function () {
  this.timeout(120_000);
  let hosts: TwoHosts;
  let trusting: Agent;

  before(async () => {
    const certs = makeCertificates(tempDir('two-hosts-tls'));
    trusting = new Agent({ connect: { ca: fs.readFileSync(certs.ca) } });
    const tokens = [{ name: 'grafana', role: 'viewer', sha256: createHash('sha256').update(VIEWER).digest('hex') }];
    hosts = await startTwoHosts({}, { certs, api: { tokens } });
    await hosts.startB();
  });
  after(async () => hosts?.close());

  it('files crawled on host A reach host B over HTTPS; roles and the sync token keep their doors', async () => {
    const site = await startSyntheticSite({ pages: 6, imagesPerPage: 5, minImageBytes: 800, maxImageBytes: 2000, seed: 91, specials: false });
    let files: string[];
    try {
      const { id } = await hosts.a.rt.sessions.start({ urls: [site.startUrl] });
      expect((await hosts.a.waitForSession(id)).status).to.equal('completed');
      files = (await hosts.a.rt.knex('images').where({ session_id: id, status: 'stored' }).distinct('file_path')).map((r) => r.file_path as string);
    } finally {
      await site.close();
    }
    expect(files.length).to.be.greaterThan(10);
    await waitForFiles(hosts.storeB, files, 30_000);

    const call = (url: string, token: string, init: { method?: string } = {}) => fetch(url, { ...init, dispatcher: trusting, headers: { Authorization: `Bearer ${token}` } }).then((r) => r.status);
    for (const base of [hosts.urlA, hosts.urlB]) {
      expect(base.startsWith('https://')).to.equal(true);
      expect(await call(`${base}/api/crawl/status`, VIEWER), 'a viewer reads').to.equal(200);
      expect(await call(`${base}/api/images/999999999999`, VIEWER, { method: 'DELETE' }), 'but does not delete').to.equal(403);
      expect(await call(`${base}/internal/sync/missing`, API_TOKEN), 'the API token is not the sync token').to.equal(401);
      expect(await call(`${base}/internal/sync/missing`, SYNC_TOKEN), 'the sync token opens the sync door').to.equal(200);
      expect(await call(`${base}/api/sync-status`, SYNC_TOKEN), '…and nothing else').to.equal(401);
    }
  });
});
