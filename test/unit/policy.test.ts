import { expect } from 'chai';
import { CrawlScope, spiderTrapReason } from '../../src/crawler/crawl-scope';
import { NetPolicy, parseCidr } from '../../src/crawler/net-policy';
import { RobotsRules } from '../../src/crawler/robots-rules';

describe('network policy', () => {
  it('allows public unicast and refuses loopback, private, link-local and unspecified by default', () => {
    const p = new NetPolicy({ allowPrivate: false, allowNets: [] });
    expect(p.check('93.184.216.34').allowed).to.equal(true);
    expect(p.check('2606:2800:220:1::1').allowed).to.equal(true);
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '0.0.0.0', '::ffff:127.0.0.1', '::7f00:1', '::a9fe:a9fe', '100.64.0.1']) {
      expect(p.check(a).allowed, a).to.equal(false);
    }
  });

  it('--allow-private opens loopback and private ranges but not link-local (cloud metadata)', () => {
    const p = new NetPolicy({ allowPrivate: true, allowNets: [] });
    for (const a of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '::1', 'fd00::1']) expect(p.check(a).allowed, a).to.equal(true);
    for (const a of ['169.254.169.254', 'fe80::1']) expect(p.check(a).allowed, a).to.equal(false);
  });

  it('--allow-net opens exactly the named ranges, link-local included when named', () => {
    const p = new NetPolicy({ allowPrivate: false, allowNets: ['127.0.0.0/8', '169.254.169.254/32'] });
    expect(p.check('127.0.0.1').allowed).to.equal(true);
    expect(p.check('127.1.2.3').allowed).to.equal(true);
    expect(p.check('10.0.0.1').allowed).to.equal(false);
    expect(p.check('169.254.169.254').allowed).to.equal(true);
    expect(p.check('169.254.0.1').allowed).to.equal(false);
  });

  it('explains how to open a refused address', () => {
    expect(NetPolicy.explain('h', '10.0.0.1', 'private')).to.contain('--allow-private');
    expect(NetPolicy.explain('h', '169.254.169.254', 'linkLocal')).to.contain('only by naming it with --allow-net');
  });

  it('rejects malformed CIDRs', () => {
    expect(() => parseCidr('127.0.0.0/99')).to.throw(/not a CIDR/);
    expect(() => parseCidr('localhost')).to.throw(/not a CIDR/);
    expect(parseCidr('::1')[1]).to.equal(128);
  });
});

describe('crawl scope', () => {
  const scope = (o: Partial<ConstructorParameters<typeof CrawlScope>[0]> = {}) =>
    new CrawlScope({ startUrls: ['http://site.test/'], include: [], exclude: [], followExternal: false, maxDepth: 3, maxUrlLength: 2048, ...o });

  it('keeps pages on the start hosts, within depth', () => {
    expect(scope().checkPage('http://site.test/a', 1).ok).to.equal(true);
    expect(scope().checkPage('http://other.test/a', 1)).to.deep.include({ ok: false });
    expect(scope().checkPage('http://site.test:8080/a', 1).ok).to.equal(false);
    expect(scope().checkPage('http://site.test/a', 4)).to.deep.equal({ ok: false, reason: 'deeper than max depth 3' });
    expect(scope({ followExternal: true }).checkPage('http://other.test/a', 1).ok).to.equal(true);
  });

  it('applies include and exclude patterns', () => {
    const s = scope({ include: ['/blog/'], exclude: ['\\?print=1$'] });
    expect(s.checkPage('http://site.test/blog/x', 1).ok).to.equal(true);
    expect(s.checkPage('http://site.test/shop/x', 1).ok).to.equal(false);
    expect(s.checkPage('http://site.test/blog/x?print=1', 1).ok).to.equal(false);
  });

  it('recognises spider traps', () => {
    expect(spiderTrapReason(new URL('http://s/a/b/a/b/a/b/a/'))).to.match(/repeats 4 times/);
    expect(spiderTrapReason(new URL(`http://s/${Array.from({ length: 40 }, (_, i) => `p${i}`).join('/')}`))).to.match(/deeper than 30/);
    expect(spiderTrapReason(new URL('http://s/2024/05/05/post'))).to.equal(null);
  });
});

describe('robots.txt rules', () => {
  const ua = 'image-crawler/0.1 (+https://example.test)';
  const text = `User-agent: *\nDisallow: /private/\nAllow: /private/ok.png\n\nUser-agent: image-crawler\nDisallow: /no-crawler/\nCrawl-delay: 2\n`;

  it('obeys the group for our user agent, with longest-match Allow', () => {
    const r = new RobotsRules('http://site.test', text, ua);
    expect(r.isAllowed('http://site.test/no-crawler/x')).to.equal(false);
    expect(r.isAllowed('http://site.test/page')).to.equal(true);
    expect(r.crawlDelayMs()).to.equal(2000);
  });

  it('falls back to * and allows everything without a robots.txt', () => {
    const r = new RobotsRules('http://site.test', 'User-agent: *\nDisallow: /private/\nAllow: /private/ok.png\n', ua);
    expect(r.isAllowed('http://site.test/private/x.png')).to.equal(false);
    expect(r.isAllowed('http://site.test/private/ok.png')).to.equal(true);
    expect(r.crawlDelayMs()).to.equal(0);
    expect(new RobotsRules('http://site.test', null, ua).isAllowed('http://site.test/private/x')).to.equal(true);
  });
});
