import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../src/api/app';
import { startSyntheticSite, type RunningSite } from '../../src/demo/synthetic-site';
import { startTestRuntime, testConfig, type TestRuntime } from '../support/test-env';

const ADMIN = 'graphql-admin-token-0123456789abcdef';
const VIEWER = 'graphql-viewer-token-0123456789abcd';
const OPERATOR = 'graphql-operator-token-0123456789ab';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

type Answer = { status: number; data?: Record<string, any>; errors?: { message: string; extensions?: { code?: string } }[] };

describe('GraphQL (POST /graphql): the same services and roles as the REST API, with depth and cost limits', function () {
  this.timeout(60_000);
  let t: TestRuntime;
  let server: Server;
  let base: string;
  let site: RunningSite;

  const gql = async (token: string | null, query: string, variables?: Record<string, unknown>): Promise<Answer> => {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as object) };
  };

  before(async () => {
    site = await startSyntheticSite({ pages: 3, imagesPerPage: 4, minImageBytes: 1000, maxImageBytes: 3000, seed: 47, specials: false });
    t = await startTestRuntime(
      testConfig({
        api: {
          tokens: [
            { name: 'reader', role: 'viewer', sha256: sha(VIEWER) },
            { name: 'runner', role: 'operator', sha256: sha(OPERATOR) },
          ],
        },
      }),
    );
    server = createApp(t.rt, ADMIN).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    server?.close();
    await t?.close();
    await site?.close();
  });

  it('an operator starts and finishes a crawl; a viewer reads sessions, images with their duplicates, cluster, sync and backups', async () => {
    const started = await gql(OPERATOR, 'mutation ($urls: [String!]!) { startCrawl(urls: $urls, maxPages: 10) { id status startUrls } }', { urls: [site.startUrl] });
    expect(started.errors).to.equal(undefined);
    const id = started.data?.startCrawl.id as string;
    expect(started.data?.startCrawl).to.include({ status: 'running' });
    await t.waitForSession(id);

    const read = await gql(
      VIEWER,
      `query ($id: ID!) {
        session(id: $id) { id status imagesStored imagesFound pending }
        images(sessionId: $id, status: "stored", limit: 5) { id url format sha256 sameContent(limit: 2) { id } }
        cluster { enabled term nodes { name } }
        sync { host paused }
        backups(limit: 3) { id kind }
      }`,
      { id },
    );
    expect(read.errors).to.equal(undefined);
    expect(read.data?.session).to.include({ id, status: 'completed', pending: 0 });
    expect(read.data?.session.imagesStored).to.be.greaterThan(0);
    expect(read.data?.images).to.have.length.within(1, 5);
    expect(read.data?.images[0].sha256).to.match(/^[0-9a-f]{64}$/);
    expect(read.data?.cluster).to.deep.equal({ enabled: false, term: 0, nodes: [] });
    expect(read.data?.sync.host).to.be.a('string');
    expect(read.data?.backups).to.be.an('array');

    // The REST twin of the same session answers the same counts.
    const rest = await (await fetch(`${base}/api/crawl/status/${id}`, { headers: { Authorization: `Bearer ${VIEWER}` } })).json();
    expect(read.data?.session.imagesStored).to.equal(rest.images_stored);

    const imageId = read.data?.images[0].id as string;
    expect((await gql(OPERATOR, `mutation { deleteImage(id: "${imageId}") }`)).data?.deleteImage).to.equal(true);
    expect((await gql(VIEWER, `{ image(id: "${imageId}") { id } }`)).data?.image).to.equal(null);
  });

  it('refuses what a role may not do, queries too deep or too costly, and callers without a token', async () => {
    const forbidden = await gql(VIEWER, `mutation { startCrawl(urls: ["${site.startUrl}"]) { id } }`);
    expect(forbidden.errors?.[0].extensions?.code).to.equal('FORBIDDEN');
    expect(forbidden.errors?.[0].message).to.match(/reader has the viewer role, this needs operator/);

    const invalid = await gql(OPERATOR, 'mutation { startCrawl(urls: ["ftp://x"]) { id } }');
    expect(invalid.errors?.[0].message).to.match(/invalid crawl request: urls.0/);

    const costly = await gql(VIEWER, `{ a: images(limit: 500) { id } b: images(limit: 500) { id } c: images(limit: 500) { id } d: images(limit: 500) { id } e: images(limit: 500) { id } }`);
    expect(costly.errors?.[0].message).to.match(/too costly: it may read 2500 rows/);

    const nested = await gql(VIEWER, '{ images(limit: 2) { sameContent(limit: 2) { sameContent(limit: 2) { sameContent(limit: 2) { sameContent(limit: 2) { sameContent(limit: 2) { id } } } } } } }');
    expect(nested.errors?.[0].message).to.match(/too deep/);

    const tooMany = await gql(VIEWER, '{ images(limit: 600) { id } }');
    expect(tooMany.errors?.[0].message).to.match(/limit must be 1–500/);

    expect((await gql(null, '{ sessions { id } }')).status).to.equal(401);
    const schema = await fetch(`${base}/graphql/schema`, { headers: { Authorization: `Bearer ${VIEWER}` } });
    expect(await schema.text()).to.match(/type Mutation \{/);
  });
});
