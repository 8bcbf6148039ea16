import { expect } from 'chai';
import { NetPolicy } from '../../src/crawler/net-policy';
import { startLocalServer, type LocalServer } from '../../src/demo/local-server';
import { PermanentFetchError } from '../../src/errors';
import { HttpClient, IMAGE_ACCEPT } from '../../src/http/http-client';

/** The crawler's HTTP client keeps its keep-alive connections through 404s and redirects. */
describe('HTTP client: connections', function () {
  this.timeout(20_000);
  let server: LocalServer;
  let client: HttpClient;

  before(async () => {
    server = await startLocalServer((req, res) => {
      if (req.url === '/missing.png') res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      else if (req.url === '/big-404.png') res.writeHead(404, { 'Content-Type': 'text/plain' }).end(Buffer.alloc(200_000, 120));
      else if (req.url?.startsWith('/moved')) res.writeHead(301, { Location: '/ok.png' }).end();
      else res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.from('not really a png'));
    });
    client = new HttpClient({
      userAgent: 'test',
      requestTimeoutMs: 5000,
      connectTimeoutMs: 5000,
      maxRedirects: 5,
      // One connection per origin: each request waits for the previous one's, so whether a
      // connection was kept or closed shows in the server's count.
      maxSocketsPerHost: 1,
      netPolicy: new NetPolicy({ allowPrivate: false, allowNets: ['127.0.0.0/8'] }),
    });
  });

  after(async () => {
    client.close();
    await server.close();
  });

  const fetchOk = (path: string) => client.fetch(`${server.origin}${path}`, { accept: IMAGE_ACCEPT, maxBytes: 1_000_000 });
  const fetchError = (path: string) => fetchOk(path).then(() => expect.fail(`${path} should fail`), (err: unknown) => err);

  it('reuses one connection across 404s and redirects, one request after another', async () => {
    const before = server.connectionsAccepted();
    for (let i = 0; i < 5; i++) {
      const err = await fetchError('/missing.png');
      expect(err).to.be.instanceOf(PermanentFetchError).and.have.property('httpStatus', 404);
      const res = await fetchOk(`/moved-${i}`);
      expect(res.redirects).to.deep.equal([`${server.origin}/moved-${i}`]);
      expect(res.body.toString()).to.equal('not really a png');
      const hop = await client.fetch(`${server.origin}/moved-x${i}`, { accept: IMAGE_ACCEPT, maxBytes: 1000, followRedirects: false });
      expect(hop.location).to.equal(`${server.origin}/ok.png`);
    }
    expect(server.connectionsAccepted() - before).to.equal(1);
  });

  it('closes the connection rather than read a large error body, and still reports the status', async () => {
    await fetchOk('/ok.png'); // a connection in the pool
    const before = server.connectionsAccepted();
    const err = await fetchError('/big-404.png');
    expect(err).to.be.instanceOf(PermanentFetchError).and.have.property('httpStatus', 404);
    await fetchOk('/ok.png');
    expect(server.connectionsAccepted() - before).to.equal(1); // the 404's connection was closed
  });
});
