import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Agent, fetch } from 'undici';
import { PeerClient } from '../../src/sync/peer-client';
import { spawnCli, writeConfigFile } from '../support/cli';
import { freePort } from '../support/ports';
import { tempDir, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=image-crawler test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') };
}

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
