import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { expect } from 'chai';
import { Agent, fetch } from 'undici';
import { PeerClient } from '../../src/sync/peer-client';
import { makeCertificates } from '../support/certs';
import { spawnCli, writeConfigFile } from '../support/cli';
import { freePort } from '../support/ports';
import { TEST_REDIS_URL, startTestRuntime, tempDir, testConfig } from '../support/test-env';
import { TestCluster, query, startTestCluster } from '../support/cluster-helpers';
import { HaManager } from '../../src/ha/ha-manager';
import { validateConfig } from '../../src/config/load-config';
import { ownByPostgres, stopNode } from '../../src/ha/local-cluster';
import { waitFor } from '../support/wait-for';

describe('TLS: the API over HTTPS, and peers verified against a pinned CA', function () {
  this.timeout(60_000);
  const TOKEN = 'tls-token-0123456789abcdef';

  it('web serves HTTPS with HSTS; a peer client that pins the CA talks to it, one that does not refuses', async () => {
    const certs = makeCertificates(tempDir('tls'));
    const port = await freePort();
    const SYNC = 'tls-sync-token-0123456789';
    const config = testConfig({ api: { port, tls: { cert: certs.cert, key: certs.key } }, sync: { token: SYNC } });
    const web = spawnCli(['web', '--config', writeConfigFile(config)], { API_TOKEN: TOKEN });
    let banner = '';
    web.stderr?.on('data', (d) => (banner += d));
    try {
      const trusting = new Agent({ connect: { ca: fs.readFileSync(certs.ca) } });
      const res = await waitFor('web answers over HTTPS', () => fetch(`https://127.0.0.1:${port}/api/health`, { dispatcher: trusting }).catch(() => null), 30_000);
      expect(res.status).to.equal(200);
      expect(res.headers.get('strict-transport-security')).to.equal('max-age=31536000');
      expect(banner).to.contain(`Console on https://127.0.0.1:${port}/`);
      // Plain HTTP on that port gets no API.
      expect(await fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.status, () => 'refused')).to.not.equal(200);

      const peer = { name: 'host-b', url: `https://127.0.0.1:${port}` };
      const pinned = new PeerClient(peer, SYNC, 5000, 1 << 20, fs.readFileSync(certs.ca, 'utf8'));
      expect(await pinned.missing()).to.be.an('array');
      const unpinned = new PeerClient(peer, SYNC, 5000, 1 << 20);
      const err = await unpinned.missing().then(() => null, (e: Error) => e);
      expect(String(err)).to.match(/certificate|self.signed|unable to verify/i);
    } finally {
      web.kill('SIGTERM');
    }
  });

  it('refuses to send the sync token over plain http:// to another host', () => {
    const peers = [{ name: 'host-b', url: 'http://10.1.2.3:8000' }];
    expect(() => testConfig({ sync: { peers, token: 'sync-token-0123456789' } })).to.throw(/clear text over http:\/\/; use https:\/\//);
    expect(() => testConfig({ sync: { peers, token: 'sync-token-0123456789', allow_insecure: true } })).to.not.throw();
    expect(() => testConfig({ sync: { peers: [{ name: 'host-b', url: 'http://127.0.0.1:8001' }], token: 'sync-token-0123456789' } })).to.not.throw();
  });
});

describe('PostgreSQL over TLS: pools, probes, failover', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  let redis: Redis;

  before(async () => {
    cluster = await startTestCluster({ ha: { failure_threshold: 2, confirm_interval_ms: 200, probe_connect_timeout_ms: 1000 } });
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.close();
  });

  it('every connection of the application goes over TLS (plain ones are refused) and a failover works', async () => {
    const certs = makeCertificates(tempDir('pg-tls'));
    // Each node: its certificate, ssl on, and clients on 127.0.0.1 only over TLS (replication as it was).
    for (const node of cluster.nodes) {
      for (const [file, to] of [[certs.cert, 'server.crt'], [certs.key, 'server.key']]) {
        const target = path.join(node.data_dir, to);
        fs.copyFileSync(file, target);
        fs.chmodSync(target, 0o600);
        ownByPostgres(target);
      }
      const hba = path.join(node.data_dir, 'pg_hba.conf');
      const rest = fs.readFileSync(hba, 'utf8');
      fs.writeFileSync(hba, 'host replication all 127.0.0.1/32 trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n' + rest);
      fs.appendFileSync(path.join(node.data_dir, 'postgresql.conf'), "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
      await query(node.url, 'SELECT pg_reload_conf()');
    }
    // database.ssl puts TLS on every node's URL, so on every connection made from them.
    const config = validateConfig({ ...cluster.config, database: { ...cluster.config.database, ssl: { mode: 'verify-full', ca: certs.ca } } });
    expect(config.database.nodes.every((n) => /sslmode=verify-full&sslrootcert=/.test(n.url))).to.equal(true);
    await waitFor('plain connections are refused', () => query(cluster.nodes[0].url, 'SELECT 1').then(() => false, (err: Error) => /no encryption|reject/i.test(err.message)), 10_000);
    expect((await query(config.database.nodes[0].url, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl).to.equal(true);

    // Probes, the pools and a failover, all over TLS.
    const manager = new HaManager(config, redis);
    await manager.check();
    const t = await startTestRuntime(config, false);
    try {
      await t.rt.knex.raw('CREATE TABLE over_tls (id int)');
      await t.rt.knex('over_tls').insert({ id: 1 });
      expect((await t.rt.knex.raw('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl).to.equal(true);
      await stopNode(cluster.dir, cluster.port, 'node1', 'immediate');
      let failover = null;
      for (let i = 0; i < 6 && !failover; i++) failover = (await manager.check()).failover;
      expect(failover).to.deep.include({ to: 'node2', outcome: 'success' });
      await waitFor('the pool writes to node2 over TLS', () => t.rt.knex('over_tls').insert({ id: 2 }).then(() => true, () => false), 20_000);
      expect((await query(config.database.nodes[1].url, 'SELECT count(*)::int AS n FROM over_tls')).rows[0].n).to.equal(2);
    } finally {
      await t.close();
    }
  });
});
