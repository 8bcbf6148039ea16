import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import axios from 'axios';
import { expect } from 'chai';
import { startSyntheticSite } from '../../src/demo/synthetic-site';
import { runConsistencyCheck } from '../../src/consistency/consistency-check';
import { ContentStore, hashFile } from '../../src/storage/content-store';
import { spawnCli, writeConfigFile } from '../support/cli';
import { API_TOKEN, SYNC_TOKEN, TwoHosts, startTwoHosts, waitForFiles, waitForSyncIdle } from '../support/two-hosts';

describe('file sync between two hosts', function () {
  this.timeout(120_000);
  let hosts: TwoHosts;

  before(async () => {
    hosts = await startTwoHosts({ chunk_bytes: 64 * 1024 });
    await hosts.startB();
  });
  after(async () => hosts?.close());

  async function crawl(seed: number): Promise<{ sessionId: string; files: string[] }> {
    const site = await startSyntheticSite({ pages: 12, imagesPerPage: 6, minImageBytes: 1000, maxImageBytes: 4000, seed, specials: false });
    try {
      const { id } = await hosts.a.rt.sessions.start({ urls: [site.startUrl] });
      const view = await hosts.a.waitForSession(id);
      expect(view.status).to.equal('completed');
      const rows = await hosts.a.rt.knex('images').where({ session_id: id, status: 'stored' }).distinct('file_path');
      expect(rows.length).to.be.greaterThan(20);
      return { sessionId: id, files: rows.map((r) => r.file_path as string) };
    } finally {
      await site.close();
    }
  }

  it('an image crawled through host A is in host B’s store, byte-identical, moments later', async () => {
    const { files } = await crawl(101);
    await waitForFiles(hosts.storeB, files, 15_000);
  });

  it('host B down during a crawl gets every file when it returns', async () => {
    await hosts.killB();
    const { files } = await crawl(202);
    const present = await Promise.all(files.map((f) => hosts.storeB.has(f)));
    expect(present.filter(Boolean)).to.have.length(0);
    const backlog = await hosts.a.rt.fileSync.backlog();
    expect(backlog[0].peer).to.equal('hostB');
    expect(backlog[0].waiting + backlog[0].active + backlog[0].delayed).to.be.greaterThan(0);
    expect(backlog[0].failed).to.equal(0); // waiting for the peer is not failing
    await hosts.startB();
    await waitForFiles(hosts.storeB, files, 30_000);
  });

  it('GET /api/images/:id/file on a host that lacks the file fetches it from a peer', async () => {
    const row = await hosts.a.rt.knex('images').where({ status: 'stored' }).first();
    await waitForFiles(hosts.storeB, [row.file_path], 15_000);
    await hosts.storeB.remove(row.file_path);
    const res = await axios.get(`${hosts.urlB}/api/images/${row.id}/file`, { headers: { Authorization: `Bearer ${API_TOKEN}` }, responseType: 'arraybuffer' });
    expect(res.status).to.equal(200);
    expect(createHash('sha256').update(Buffer.from(res.data)).digest('hex')).to.equal(row.sha256);
    expect(await hosts.storeB.has(row.file_path)).to.equal(true);
  });

  it('DELETE /api/images/:id removes the file on the peers too once no row uses it', async () => {
    // A file used by exactly one row.
    const { rows } = await hosts.a.rt.knex.raw(
      `SELECT min(id) AS id, file_path FROM images WHERE status = 'stored' GROUP BY file_path HAVING count(*) = 1 LIMIT 1`,
    );
    const { id, file_path: file } = rows[0];
    await waitForFiles(hosts.storeB, [file], 15_000);
    const res = await axios.delete(`${hosts.urlA}/api/images/${id}`, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    expect(res.data).to.deep.include({ deleted: true, fileRemoved: true });
    expect(await hosts.a.rt.store.has(file)).to.equal(false);
    expect(await hosts.storeB.has(file)).to.equal(false);
  });

  it('DELETE /api/images/:id keeps the file, here and on the peers, while another row still uses it', async () => {
    // The same content under a second URL: one file, two rows.
    const row = await hosts.a.rt.knex('images').where({ status: 'stored' }).orderBy('id', 'desc').first();
    const { id: _id, created_at: _c, updated_at: _u, ...copy } = row;
    await hosts.a.rt.knex('images').insert({ ...copy, url: `${row.url}?same-content` });
    const { id, file_path: file } = row;
    await waitForFiles(hosts.storeB, [file], 15_000);
    const res = await axios.delete(`${hosts.urlA}/api/images/${id}`, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    expect(res.data).to.deep.include({ deleted: true, fileRemoved: false });
    expect(await hosts.a.rt.store.has(file)).to.equal(true);
    expect(await hosts.storeB.has(file)).to.equal(true);
  });

  it('the internal endpoint wants the token and refuses a body that does not match its hash', async () => {
    const name = `${'a'.repeat(64)}.png`;
    const anon = await axios.head(`${hosts.urlB}/internal/sync/files/${name}`, { validateStatus: () => true });
    expect(anon.status).to.equal(401);
    const withApiToken = await axios.head(`${hosts.urlB}/internal/sync/files/${name}`, { headers: { Authorization: `Bearer ${API_TOKEN}` }, validateStatus: () => true });
    expect(withApiToken.status, 'an API token is not the sync token').to.equal(401);
    const auth = { Authorization: `Bearer ${SYNC_TOKEN}` };
    const bad = await axios.put(`${hosts.urlB}/internal/sync/files/${name}`, Buffer.from('not the right bytes'), {
      headers: { ...auth, 'Content-Type': 'application/octet-stream', 'Upload-Offset': '0', 'Upload-Length': '19' },
      validateStatus: () => true,
    });
    expect(bad.status).to.equal(422);
    expect(bad.data.error).to.match(/hash/);
    expect(await hosts.storeB.has(ContentStore.parseName(name).relativePath)).to.equal(false);
    const traversal = await axios.get(`${hosts.urlB}/internal/sync/files/..%2F..%2Fetc%2Fpasswd`, { headers: auth, validateStatus: () => true });
    expect(traversal.status).to.equal(400);
  });

  it('a consistency check reports files deleted or corrupted on one host, and repairs them from the other', async () => {
    const rows = await hosts.a.rt.knex('images').where({ status: 'stored' }).distinct('file_path').orderBy('file_path').limit(2);
    const [gone, damaged] = rows.map((r) => r.file_path as string);
    await waitForFiles(hosts.storeB, [gone, damaged], 15_000);
    await waitForSyncIdle(hosts.a, 15_000); // e.g. the full sync queued when host B restarted
    await hosts.storeB.remove(gone);
    const abs = hosts.storeB.absolutePath(damaged);
    const bytes = fs.readFileSync(abs);
    bytes[bytes.length >> 1] ^= 0xff; // same size, different content
    fs.writeFileSync(abs, bytes);
    const name = (p: string) => p.split('/').pop();

    const report = await runConsistencyCheck(hosts.a.rt, 'api', false);
    expect(report.ok).to.equal(false);
    const b = report.files.find((f) => f.host === 'hostB');
    expect(b).to.deep.include({ missing: [name(gone)], corrupt: [name(damaged)], ok: false });
    expect(report.files.find((f) => f.host === 'hostA')?.ok).to.equal(true);
    expect(report.summary).to.match(/host hostB: 1 missing, 1 corrupt/);

    // Through the API, with repair (the default): host B fetches both again from host A.
    const res = await axios.post(`${hosts.urlA}/api/sync/trigger`, { what: 'check', wait: true }, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    expect(res.status).to.equal(200);
    expect(res.data.check.ok).to.equal(true);
    expect(res.data.check.files[1].repaired.sort()).to.deep.equal([name(gone), name(damaged)].sort());
    expect(await hashFile(abs)).to.equal(name(damaged)?.split('.')[0]);
    expect(await hosts.storeB.has(gone)).to.equal(true);
    const status = await axios.get(`${hosts.urlA}/api/sync-status`, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
    expect(status.data).to.deep.include({ host: 'hostA', paused: false });
    expect(status.data.lastCheck).to.deep.include({ ok: true, trigger: 'api' });
    expect(status.data.peers[0]).to.deep.include({ name: 'hostB', failed: 0 });
  });

  it('a transfer killed halfway resumes where it stopped and completes with the right hash', async function () {
    // A 40 MB file on host A, sent in 64 KB chunks by a separate process that is killed mid-way.
    const body = randomBytes(40 * 1024 * 1024);
    const sha = createHash('sha256').update(body).digest('hex');
    const { relativePath } = await hosts.a.rt.store.put(sha, 'bin', body);
    const name = ContentStore.parseName(`${sha}.bin`);
    const partial = path.join(hosts.storeB.root, '.partial', `${sha}.bin`);
    const sender = spawnCli(['sync', 'push', `${sha}.bin`, '--peer', 'hostB', '--config', writeConfigFile(hosts.configA)]);
    const size = () => (fs.existsSync(partial) ? fs.statSync(partial).size : 0);
    for (let i = 0; size() < 2 * 1024 * 1024; i++) {
      if (i > 3000 || sender.exitCode !== null) throw new Error(`the transfer did not get going (exit ${sender.exitCode})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    sender.kill('SIGKILL');
    await once(sender, 'exit');
    const atKill = size();
    expect(atKill).to.be.greaterThan(0).and.lessThan(body.length);
    expect(await hosts.storeB.has(relativePath)).to.equal(false);

    const result = await hosts.a.rt.fileSync.peers[0].push(hosts.a.rt.store, name);
    expect(result.existed).to.equal(false);
    expect(result.resumedFrom).to.be.at.least(atKill - 64 * 1024).and.greaterThan(0);
    expect(result.bytesSent).to.equal(body.length - result.resumedFrom);
    expect(await hashFile(hosts.storeB.absolutePath(relativePath))).to.equal(sha);
    expect(fs.existsSync(partial)).to.equal(false);
    // Pushing again: the peer has it and answers at once.
    expect((await hosts.a.rt.fileSync.peers[0].push(hosts.a.rt.store, name)).existed).to.equal(true);
  });
});
