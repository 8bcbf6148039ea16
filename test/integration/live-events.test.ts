import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import WebSocket from 'ws';
import { AlertSender } from '../../src/alerts/alerts';
import { createApp } from '../../src/api/app';
import { acceptUpgrades } from '../../src/api/event-socket';
import { startSyntheticSite, type RunningSite } from '../../src/demo/synthetic-site';
import { Runtime } from '../../src/runtime';
import { startTestRuntime, testConfig, type TestRuntime } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { type Received, openEventSocket, readSse } from '../support/event-clients';

const ADMIN = 'live-events-admin-token-0123456789';
const VIEWER = 'live-events-viewer-token-0123456789';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

describe('live events (WebSocket and server-sent events) and batch operations', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let other: Runtime;
  let server: Server;
  let base: string;
  let site: RunningSite;

  before(async () => {
    site = await startSyntheticSite({ pages: 4, imagesPerPage: 4, minImageBytes: 1000, maxImageBytes: 3000, seed: 31, specials: false });
    const config = testConfig({ api: { tokens: [{ name: 'watcher', role: 'viewer', sha256: sha(VIEWER) }] } });
    t = await startTestRuntime(config);
    // Another process of the same deployment (another host's worker, say).
    other = await Runtime.create(config, { migrate: false });
    const app = createApp(t.rt, ADMIN);
    server = app.listen(0, '127.0.0.1');
    acceptUpgrades(server, app);
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    server?.close();
    await other?.close();
    await t?.close();
    await site?.close();
  });

  it("a WebSocket and an SSE client each see a crawl's progress to its end, and an alert raised by another process", async () => {
    const viaSocket: Received = [];
    const ws = await openEventSocket(`${base.replace('http', 'ws')}/api/events`, VIEWER, viaSocket);
    const viaSse: Received = [];
    const sse = readSse(`${base}/api/events`, VIEWER, viaSse);
    try {
      // The web process subscribes to the deployment's events when its first client attaches.
      await waitFor('the event subscription is in place', () => t.rt.redis.pubsub('NUMSUB', `${t.rt.config.redis.prefix}:events`).then((r) => Number((r as [string, number])[1]) > 0));
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl] });
      await t.waitForSession(id);
      await new AlertSender(other.redis, other.config.redis.prefix, other.config.alerts).send([{ kind: 'disk_space', node: 'host-b', message: 'test alert from host-b', cooldownS: 1 }]);
      for (const [name, got] of [['WebSocket', viaSocket], ['SSE', viaSse]] as const) {
        await waitFor(`the ${name} client sees the session completed`, () => got.some((e) => e.event === 'progress' && e.data.id === id && e.data.status === 'completed'), 15_000);
        await waitFor(`the ${name} client sees the alert of the other process`, () => got.some((e) => e.event === 'alert' && e.data.message === 'test alert from host-b'), 15_000);
        const running = got.filter((e) => e.event === 'progress' && e.data.id === id);
        expect(running.length, `${name}: progress of the session`).to.be.greaterThan(0);
      }
    } finally {
      ws.close();
      sse.abort();
    }
  });

  it('a WebSocket without a token is refused with 401, and one to another path with 404', async () => {
    const refused = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error(`${url} accepted the WebSocket`)));
        ws.on('error', () => undefined);
      });
    expect(await refused(`${base.replace('http', 'ws')}/api/events`)).to.equal(401);
    expect(await refused(`${base.replace('http', 'ws')}/api/nothing`, { Authorization: `Bearer ${VIEWER}` })).to.equal(404);
  });

  it("runs a batch in order with the caller's role: a failing operation in the middle does not stop the others", async () => {
    const batch = async (token: string, body: unknown) => {
      const res = await fetch(`${base}/api/batch`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { results: { status: number; body: Record<string, unknown> }[]; error?: string } };
    };
    const { status, body } = await batch(VIEWER, {
      operations: [
        { method: 'GET', path: '/api/crawl/status?limit=1' },
        { method: 'POST', path: '/api/crawl/start', body: { urls: [site.startUrl] } }, // a viewer may not
        { method: 'GET', path: '/api/images/not-a-number' },
        { method: 'GET', path: '/api/images?limit=2' },
      ],
    });
    expect(status).to.equal(200);
    expect(body.results.map((r) => r.status)).to.deep.equal([200, 403, 400, 200]);
    expect(body.results[0].body.sessions).to.be.an('array');
    expect(body.results[3].body.images).to.have.length(2);
    const bad = `ftp://nope-${Date.now()}`; // this run's own (the test database keeps every run's audit rows)
    const admin = await batch(ADMIN, { operations: [{ method: 'POST', path: '/api/crawl/start', body: { urls: [bad] } }, { method: 'GET', path: '/api/sync-status' }] });
    expect(admin.body.results.map((r) => r.status)).to.deep.equal([400, 200]);
    const audited = await waitFor('the batched change is audited as if it came alone', () =>
      t.rt.knex('audit_log').where({ action: 'POST /api/crawl/start', actor: 'api_token', outcome: '400' }).whereRaw("params->'urls'->>0 = ?", [bad]).first(),
    );
    expect(audited.ip).to.match(/127\.0\.0\.1/);
    expect((await batch(VIEWER, { operations: [{ method: 'POST', path: '/api/batch', body: {} }] })).status).to.equal(400);
    expect((await batch(VIEWER, { operations: Array.from({ length: 101 }, () => ({ method: 'GET', path: '/api/health' })) })).body.error).to.match(/at most 100/);
  });
});
