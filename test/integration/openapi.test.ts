import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import { TestRuntime, startTestRuntime, testConfig } from '../support/test-env';

/** Every route the app mounts, as `METHOD /path/{param}`, walking Express 5's router stack. */
function mountedRoutes(app: Express): string[] {
  const out: string[] = [];
  type Layer = { rawPath?: string; route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
        walk(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out.map((r) => r.replace(/\/:([A-Za-z]+)/g, '/{$1}').replace(/(.)\/$/, '$1'));
}

describe('OpenAPI document', function () {
  this.timeout(30_000);
  let t: TestRuntime;
  before(async () => {
    t = await startTestRuntime(testConfig(), false);
  });
  after(async () => t?.close());

  it('documents every API route the app mounts, and no other', async () => {
    const app = createApp(t.rt, 'openapi-token-0123456789');
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/openapi.json`); // open, like /api/health
      expect(res.status).to.equal(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; parameters?: { name: string; in: string }[] }>> };
      expect(doc.openapi).to.equal('3.1.0');
      const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
      // The API (and GraphQL): not host-to-host sync, Bull Board, or the console's HTML pages.
      const mounted = mountedRoutes(app).filter((r) => / \/(api\/|metrics$|graphql)/.test(r));
      expect(mountedRoutes(app)).to.include.members(['GET /gallery', 'POST /login']); // (the walk sees the console too)
      expect(mounted.length).to.be.greaterThan(15);
      expect([...documented].sort()).to.deep.equal([...new Set(mounted)].sort());
      // Request shapes come from the routes' own schemas.
      const start = doc.paths['/api/crawl/start'].post.requestBody as { content: { 'application/json': { schema: { properties: Record<string, unknown>; additionalProperties: boolean } } } };
      expect(Object.keys(start.content['application/json'].schema.properties)).to.include.members(['urls', 'maxPages', 'include', 'politenessDelayMs']);
      expect(start.content['application/json'].schema.additionalProperties).to.equal(false);
      expect(doc.paths['/api/images'].get.parameters?.map((p) => `${p.in}:${p.name}`)).to.include.members(['query:sessionId', 'query:format', 'query:limit']);
    } finally {
      server.close();
    }
  });
});
