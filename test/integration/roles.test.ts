import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { Role, allows } from '../../src/api/auth';
import { OPERATIONS } from '../../src/api/openapi';
import { TestRuntime, startTestRuntime, tempDir, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const TOKENS: Record<Role, string> = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789', admin: 'admin-token-0123456789ab' };
const NAMES: Record<Role, string> = { viewer: 'dashboards', operator: 'ops', admin: 'dba' };
const API_TOKEN = 'the-api-token-0123456789';
const roleTokens = (roles: Role[]) => roles.map((role) => ({ name: NAMES[role], role, sha256: sha(TOKENS[role]) }));

/** A runtime (no workers) and the main API on a spare port, for one describe. */
function servedApi(config: () => ReturnType<typeof testConfig>) {
  const api = { t: null as TestRuntime | null, server: null as Server | null, base: '' };
  before(async () => {
    api.t = await startTestRuntime(config(), false);
    api.server = createApp(api.t.rt, API_TOKEN).listen(0, '127.0.0.1');
    await once(api.server, 'listening');
    api.base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    api.server?.closeAllConnections();
    api.server?.close();
    await api.t?.close();
  });
  return api;
}

describe('roles: every API route with every role', function () {
  this.timeout(60_000);
  // (This walk fails to sign in ~50 times on purpose: the limit on that is tested below.)
  const api = servedApi(() => testConfig({ api: { tokens: roleTokens(['viewer', 'operator', 'admin']), rate_limit: { auth_failures_max: 1000 } } }));

  const call = async (method: string, path: string, token: string | null, body?: unknown) => {
    const abort = new AbortController();
    const res = await fetch(api.base + path, {
      method,
      signal: abort.signal,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    abort.abort(); // the event stream never ends; the status is all we need
    return res.status;
  };
  const concrete = (path: string) => path.replace('{id}', path.startsWith('/api/images') ? '999999999999' : randomUUID());

  it('401 without a token, 403 below the route\'s role, through at or above it', async () => {
    const seen: string[] = [];
    for (const op of OPERATIONS) {
      const path = concrete(op.path);
      const body = op.method === 'post' ? {} : undefined;
      const method = op.method.toUpperCase();
      if (op.open) {
        expect(await call(method, path, null), `${method} ${op.path} is open`).to.be.oneOf([200, 503]);
        continue;
      }
      expect(await call(method, path, null), `${method} ${op.path} without a token`).to.equal(401);
      expect(await call(method, path, 'not-a-token-at-all-000'), `${method} ${op.path} with a wrong token`).to.equal(401);
      for (const role of Object.keys(TOKENS) as Role[]) {
        const status = await call(method, path, TOKENS[role], body);
        const needed = op.role as Role;
        if (allows({ name: NAMES[role], role }, needed)) expect(status, `${method} ${op.path} as ${role}`).to.not.be.oneOf([401, 403]);
        else expect(status, `${method} ${op.path} as ${role} (needs ${needed})`).to.equal(403);
      }
      seen.push(`${method} ${op.path}`);
    }
    expect(seen.length).to.be.greaterThan(20);
    // API_TOKEN is an admin.
    expect(await call('GET', '/api/audit', API_TOKEN)).to.equal(200);
  });

  it('Bull Board needs an operator; the console a viewer', async () => {
    expect(await call('GET', '/admin/queues', TOKENS.viewer)).to.equal(403);
    expect(await call('GET', '/admin/queues', TOKENS.operator)).to.equal(200);
    const res = await fetch(`${api.base}/gallery?token=${TOKENS.viewer}`, { redirect: 'manual' });
    expect(res.status).to.equal(303);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
    expect((await fetch(`${api.base}/gallery`, { headers: { Cookie: cookie }, redirect: 'manual' })).status).to.equal(200);
    // The viewer's browser session cannot delete.
    expect((await fetch(`${api.base}/api/images/999999999999`, { method: 'DELETE', headers: { Cookie: cookie } })).status).to.equal(403);
  });

  it('records who changed what in the audit log, secrets redacted; only admins read it', async () => {
    const session = randomUUID();
    expect(await call('POST', '/api/crawl/stop', TOKENS.operator, { sessionId: session })).to.equal(404);
    expect(await call('POST', '/api/sync/trigger', TOKENS.admin, { what: 'check', token: 'leaky-secret-0000', note: ['postgres://u', 'hunter2@db/x'].join(':') })).to.equal(400);
    expect(await call('GET', '/api/audit', TOKENS.operator)).to.equal(403);
    const res = await fetch(`${api.base}/api/audit?limit=50`, { headers: { Authorization: `Bearer ${TOKENS.admin}` } });
    const { entries } = (await res.json()) as { entries: { actor: string; role: string; ip: string; action: string; target: string; params: Record<string, unknown>; outcome: string }[] };
    const stop = entries.find((e) => e.target === '/api/crawl/stop' && e.params.sessionId === session);
    expect(stop).to.deep.include({ actor: 'ops', role: 'operator', action: 'POST /api/crawl/stop', outcome: '404' });
    expect(stop?.ip).to.match(/127\.0\.0\.1/);
    const trigger = entries.find((e) => e.action === 'POST /api/sync/trigger' && e.actor === 'dba' && e.outcome === '400');
    expect(trigger?.params).to.deep.equal({ what: 'check', token: '***', note: 'postgres://***@db/x' });
    expect(JSON.stringify(entries)).not.to.contain('leaky-secret').and.not.to.contain('hunter2');
    // Reads are not audited (the test database is shared: only this test's callers are looked at).
    const ours = entries.filter((e) => Object.values(NAMES).includes(e.actor));
    expect(ours.length).to.be.greaterThan(0);
    expect(ours.every((e) => e.action.startsWith('POST') || e.action.startsWith('DELETE'))).to.equal(true);
  });
});

describe('rate limits (shared through Redis)', function () {
  this.timeout(60_000);
  const api = servedApi(() => testConfig({ api: { tokens: roleTokens(['viewer', 'operator']), rate_limit: { window_s: 60, max: 5, auth_failures_max: 3 } } }));

  const get = (token: string) => fetch(`${api.base}/api/crawl/status`, { headers: { Authorization: `Bearer ${token}` } });

  it('429 with Retry-After past the limit, per token', async () => {
    for (let i = 0; i < 5; i++) expect((await get(TOKENS.viewer)).status).to.equal(200);
    const limited = await get(TOKENS.viewer);
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 60);
    expect(((await limited.json()) as { error: string }).error).to.match(/at most 5 per 60 s/);
    expect((await get(TOKENS.operator)).status, 'another token has its own count').to.equal(200);
    expect((await fetch(`${api.base}/api/health`)).status, 'health is not limited').to.equal(200);
  });

  it('failed sign-ins are held to fewer, per address', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`wrong-token-${i}-0000000000`)).status).to.equal(401);
    const blocked = await get(TOKENS.operator);
    expect(blocked.status).to.equal(429);
    expect(((await blocked.json()) as { error: string }).error).to.match(/too many failed sign-ins/);
  });
});

describe('IP allow-lists', function () {
  this.timeout(30_000);
  const serve = async (api: Record<string, unknown>) => {
    const t = await startTestRuntime(testConfig({ api }), false);
    const server = createApp(t.rt, API_TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = (headers: Record<string, string> = {}) => fetch(`${base}/api/crawl/status`, { headers: { Authorization: 'Bearer the-api-token-0123456789', ...headers } });
    return { get, close: async () => (server.close(), t.close()) };
  };

  it('lets only the listed ranges in; a forwarded address counts only behind a trusted proxy', async () => {
    const open = await serve({ allow_ips: ['127.0.0.0/8'] });
    try {
      expect((await open.get()).status).to.equal(200);
    } finally {
      await open.close();
    }
    const closed = await serve({ allow_ips: ['10.0.0.0/8'] });
    try {
      const res = await closed.get({ 'X-Forwarded-For': '10.1.2.3' });
      expect(res.status, 'X-Forwarded-For is not believed by default').to.equal(403);
      expect(((await res.json()) as { error: string }).error).to.match(/127\.0\.0\.1 may not use the API \(api\.allow_ips\)/);
    } finally {
      await closed.close();
    }
    const proxied = await serve({ allow_ips: ['10.0.0.0/8'], trust_proxy: 'loopback' });
    try {
      expect((await proxied.get({ 'X-Forwarded-For': '10.1.2.3' })).status).to.equal(200);
      expect((await proxied.get({ 'X-Forwarded-For': '192.0.2.7' })).status).to.equal(403);
    } finally {
      await proxied.close();
    }
  });
});

describe('host-to-host sync hardening', function () {
  this.timeout(30_000);

  it('needs its own token (none configured: nobody), and bounds what peers leave half-sent', async () => {
    const none = await startTestRuntime(testConfig(), false);
    const plain = createApp(none.rt, API_TOKEN).listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/internal/sync/missing`, { headers: { Authorization: 'Bearer the-api-token-0123456789' } });
      expect(res.status, 'the API token is not the sync token').to.equal(401);
    } finally {
      plain.close();
      await none.close();
    }

    const syncToken = 'the-sync-token-0123456789';
    const t = await startTestRuntime(testConfig({ sync: { token: syncToken, max_partials: 1, partial_idle_s: 1 } }), false);
    const server = createApp(t.rt, API_TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal/sync/files`;
      const put = (sha: string) =>
        fetch(`${base}/${sha}.png`, { method: 'PUT', headers: { Authorization: `Bearer ${syncToken}`, 'Upload-Offset': '0', 'Upload-Length': '100' }, body: Buffer.alloc(10) });
      expect((await put('a'.repeat(64))).status, 'a first transfer, left half-sent').to.equal(202);
      const refused = await put('b'.repeat(64));
      expect(refused.status).to.equal(507);
      expect(((await refused.json()) as { error: string }).error).to.match(/1 transfers already under way here \(sync\.max_partials 1\)/);
      // The abandoned transfer expires after partial_idle_s, and a new one may start.
      await waitFor('the idle transfer expires and a new one is taken', async () => (await put('c'.repeat(64))).status === 202, 10_000);
    } finally {
      server.close();
      await t.close();
    }
  });
});

describe('JWTs as tokens (jose)', function () {
  this.timeout(30_000);
  const SECRET = 'a-shared-jwt-secret-0123456789-abcdef';
  const hs = servedApi(() => testConfig({ api: { jwt: { secret: SECRET, issuer: 'idp.example' } } }));
  const sign = (claims: Record<string, unknown>, opts: { secret?: string; exp?: string | number; issuer?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer(opts.issuer ?? 'idp.example')
      .setExpirationTime(opts.exp ?? '1h')
      .sign(new TextEncoder().encode(opts.secret ?? SECRET));
  const stop = (base: string, token: string) =>
    fetch(`${base}/api/crawl/stop`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ sessionId: randomUUID() }) }).then((r) => r.status);

  it('HS256: the role claim decides; bad signature, expiry, issuer or role are refused', async () => {
    expect(await stop(hs.base, await sign({ role: 'operator' }))).to.equal(404); // let through: no such session
    expect(await stop(hs.base, await sign({ role: 'viewer' }))).to.equal(403);
    expect(await stop(hs.base, await sign({ role: 'operator' }, { secret: 'another-secret-0123456789-abcdefgh' }))).to.equal(401);
    expect(await stop(hs.base, await sign({ role: 'operator' }, { exp: Math.floor(Date.now() / 1000) - 60 }))).to.equal(401); // expired a minute ago
    expect(await stop(hs.base, await sign({ role: 'operator' }, { issuer: 'somebody.else' }))).to.equal(401);
    expect(await stop(hs.base, await sign({ role: 'root' }))).to.equal(401);
    const entries = ((await (await fetch(`${hs.base}/api/audit`, { headers: { Authorization: `Bearer ${await sign({ role: 'admin' })}` } })).json()) as { entries: { actor: string }[] }).entries;
    expect(entries.map((e) => e.actor)).to.include('jwt:alice');
  });

  it('ES256 with a public key file', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const keyFile = path.join(tempDir('jwt'), 'public.pem');
    fs.writeFileSync(keyFile, await exportSPKI(publicKey));
    const t = await startTestRuntime(testConfig({ api: { jwt: { public_key_file: keyFile } } }), false);
    const server = createApp(t.rt, API_TOKEN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const token = await new SignJWT({ role: 'operator' }).setProtectedHeader({ alg: 'ES256' }).setSubject('bob').setExpirationTime('1h').sign(privateKey);
      expect(await stop(base, token)).to.equal(404);
      const forged = await sign({ role: 'operator' }); // HS256 with a secret: not accepted where a key is configured
      expect(await stop(base, forged)).to.equal(401);
    } finally {
      server.close();
      await t.close();
    }
  });
});
