import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { NetPolicy } from '../../src/crawler/net-policy';
import type { Resolve } from '../../src/http/guarded-lookup';
import { GuardedProxy, type ProxySettings } from '../../src/http/guarded-proxy';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A server on `host` that records what reached it. */
async function serve(host: string): Promise<{ port: number; seen: http.IncomingHttpHeaders[]; close(): void }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`hello from ${host}${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function viaProxy(settings: ProxySettings, target: string, auth = basic(settings.username, settings.password)): Promise<Answer> {
  const proxy = new URL(settings.server);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, path: target, headers: { 'Proxy-Authorization': auth }, agent: false });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject).end();
  });
}

/** CONNECT host:port, then a plain GET through the tunnel; the tunnel's answer, or the proxy's refusal. */
function throughTunnel(settings: ProxySettings, authority: string): Promise<Answer> {
  const proxy = new URL(settings.server);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: authority, headers: { 'Proxy-Authorization': basic(settings.username, settings.password) }, agent: false });
    req.on('connect', (res, socket: net.Socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        let body = head.toString();
        socket.on('data', (c) => (body += c)).on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        return;
      }
      let raw = '';
      socket.on('data', (c) => (raw += c)).on('end', () => resolve({ status: Number(raw.split(' ')[1]), headers: {}, body: raw.slice(raw.indexOf('\r\n\r\n') + 4) }));
      socket.write(`GET /tunnelled HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    });
    req.on('error', reject).end();
  });
}

describe('the browser proxy: connects only where the policy allows, on the address it checked', () => {
  let allowed: Awaited<ReturnType<typeof serve>>;
  let forbidden: Awaited<ReturnType<typeof serve>>;
  let proxy: GuardedProxy;
  let settings: ProxySettings;
  const refusals: string[] = [];
  /** Names only this test's resolver knows; `rebind.test` answers allowed once, then refused. */
  const answers: Record<string, string[]> = {};
  const resolve: Resolve = (hostname, _options, callback) => {
    const list = answers[hostname];
    const address = list?.length === 1 ? list[0] : list?.shift();
    if (!address) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, [{ address, family: 4 }]);
  };

  before(async () => {
    allowed = await serve('127.0.0.1');
    forbidden = await serve('127.0.0.2');
    proxy = new GuardedProxy({ connectTimeoutMs: 2000, resolve, onRefused: (m) => refusals.push(m) });
    const policy = { allowPrivate: false, allowNets: ['127.0.0.1/32'] };
    settings = await proxy.settingsFor(new NetPolicy(policy), NetPolicy.key(policy));
  });
  after(() => {
    proxy?.close();
    allowed?.close();
    forbidden?.close();
  });
  beforeEach(() => {
    refusals.length = 0;
    allowed.seen.length = 0;
    forbidden.seen.length = 0;
  });

  it('forwards plain http to the address its own lookup gave, with Via', async () => {
    answers['site.test'] = ['127.0.0.1'];
    const res = await viaProxy(settings, `http://site.test:${allowed.port}/a.png`);
    expect(res.status).to.equal(200);
    expect(res.body).to.equal('hello from 127.0.0.1/a.png');
    expect(res.headers.via).to.equal('1.1 image-crawler');
    expect(allowed.seen[0].via, 'the target sees the proxy').to.equal('1.1 image-crawler');
    expect(allowed.seen[0].host, "the target's own authority").to.equal(`site.test:${allowed.port}`);
    expect(allowed.seen[0]['proxy-authorization'], 'credentials never leave the proxy').to.equal(undefined);
  });

  it('a name that answers allowed, then a refused address, is refused the second time and never connected', async () => {
    answers['rebind.test'] = ['127.0.0.1', '127.0.0.2'];
    const first = await viaProxy(settings, `http://rebind.test:${allowed.port}/first`);
    expect(first.status).to.equal(200);
    // Same port on the forbidden address: a connection there would be answered.
    const second = await viaProxy(settings, `http://rebind.test:${forbidden.port}/second`);
    expect(second.status).to.equal(403);
    expect(second.body).to.match(/refusing rebind\.test \(127\.0\.0\.2\): loopback address/);
    expect(forbidden.seen, 'nothing reached the refused address').to.deep.equal([]);
    expect(refusals).to.have.length(1);
  });

  it('refuses an IP literal the policy does not allow, over http and CONNECT', async () => {
    expect((await viaProxy(settings, `http://127.0.0.2:${forbidden.port}/x`)).status).to.equal(403);
    const tunnel = await throughTunnel(settings, `127.0.0.2:${forbidden.port}`);
    expect(tunnel.status).to.equal(403);
    expect(tunnel.body).to.match(/refusing 127\.0\.0\.2/);
    expect(forbidden.seen).to.deep.equal([]);
  });

  it('tunnels CONNECT to an allowed name and refuses one that resolves to a refused address', async () => {
    answers['tunnel.test'] = ['127.0.0.1'];
    const open = await throughTunnel(settings, `tunnel.test:${allowed.port}`);
    expect(open.status).to.equal(200);
    expect(open.body).to.contain('hello from 127.0.0.1/tunnelled');
    answers['inside.test'] = ['127.0.0.2'];
    const shut = await throughTunnel(settings, `inside.test:${forbidden.port}`);
    expect(shut.status).to.equal(403);
    expect(forbidden.seen).to.deep.equal([]);
  });

  it('asks for credentials, and refuses a wrong password or an unknown policy', async () => {
    answers['site.test'] = ['127.0.0.1'];
    const target = `http://site.test:${allowed.port}/`;
    const none = await viaProxy(settings, target, '');
    expect(none.status).to.equal(407);
    expect(none.headers['proxy-authenticate']).to.equal('Basic realm="image-crawler"');
    expect((await viaProxy(settings, target, basic(settings.username, 'guess'))).status).to.equal(407);
    expect((await viaProxy(settings, target, basic('policy-0000', settings.password))).status).to.equal(407);
    expect(allowed.seen).to.deep.equal([]);
  });

  it('survives an answer Node will not pass on, and ends the browser request when an answer is cut short', async () => {
    const odd = net.createServer((socket) => {
      socket.once('data', (req) => {
        if (req.toString().startsWith('GET /odd')) socket.end('HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n');
        else socket.write('HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100\r\n\r\n1234567', () => socket.destroy());
      });
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    const port = (odd.address() as AddressInfo).port;
    answers['odd.test'] = ['127.0.0.1'];
    try {
      const bad = await viaProxy(settings, `http://odd.test:${port}/odd`);
      expect(bad.status).to.equal(502);
      expect(bad.body).to.match(/unusable answer from odd\.test/);
      const cut = await viaProxy(settings, `http://odd.test:${port}/cut`).then(
        (r) => `completed with ${r.body.length} bytes`,
        (err: Error) => `failed: ${err.message}`,
      );
      expect(cut).to.match(/^failed: (aborted|socket hang up)/);
    } finally {
      odd.close();
    }
  });

  it('reads CONNECT host:port itself: port 80 is a port (URL drops it as http\'s default)', async () => {
    answers['tunnel.test'] = ['127.0.0.1'];
    const res = await throughTunnel(settings, 'tunnel.test:80');
    expect(res.status, res.body).to.be.oneOf([200, 502]); // nothing may listen on 80 here; never 400
    expect((await throughTunnel(settings, 'tunnel.test')).status, 'no port').to.equal(400);
    expect((await throughTunnel(settings, 'tunnel.test:70000')).status).to.equal(400);
  });

  it('answers 502 with the reason when the target cannot be reached', async () => {
    const res = await viaProxy(settings, `http://nowhere.test:${allowed.port}/`);
    expect(res.status).to.equal(502);
    expect(res.body).to.match(/ENOTFOUND nowhere\.test/);
  });
});
