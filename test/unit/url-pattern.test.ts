import { expect } from 'chai';
import { CrawlScope } from '../../src/crawler/crawl-scope';
import { crawlRequestSchema } from '../../src/crawler/crawl-options';
import { MAX_LIST_SIZE, MAX_PATTERN_SIZE, compileUrlPattern, invalidPattern } from '../../src/crawler/url-pattern';

const ms = (f: () => unknown) => {
  const started = performance.now();
  f();
  return performance.now() - started;
};

describe('include/exclude patterns run in linear time', () => {
  // Each pattern with an input of n characters that almost matches: backtracking takes 2^n steps
  // (or n^20). The answer, as RegExp would give it if it ever finished.
  const catastrophic: [string, (n: number) => string, boolean][] = [
    ['^https?://[^/]+/(a+)+$', (n) => `http://h/${'a'.repeat(n)}!`, false],
    ['(a+)+$', (n) => `${'a'.repeat(n)}!`, false],
    ['(a|a)*$', (n) => `${'a'.repeat(n)}!`, true], // the empty match at the end, after trying every split
    ['(.*a){20}', (n) => `${'a'.repeat(19)}${'b'.repeat(n)}`, false],
    ['^(\\w+\\s?)*$', (n) => `${'word '.repeat(n / 5)}!`, false],
  ];

  for (const [pattern, input, expected] of catastrophic) {
    it(`decides ${pattern} on 40 to 5,000 almost-matching characters in milliseconds`, () => {
      const re = compileUrlPattern(pattern);
      for (const n of [40, 1000, 5000]) {
        let result = !expected;
        expect(ms(() => (result = re.test(input(n)))), `${n} characters`).to.be.below(20); // RegExp: 40 already takes minutes
        expect(result).to.equal(expected);
      }
    });
  }

  it('searches like RegExp#test unless anchored', () => {
    expect(compileUrlPattern('/gallery/').test('https://x.test/a/gallery/1')).to.equal(true);
    expect(compileUrlPattern('^/gallery/').test('https://x.test/gallery/1')).to.equal(false);
    expect(compileUrlPattern('\\.html$').test('https://x.test/a.html')).to.equal(true);
    expect(compileUrlPattern('\\.html$').test('https://x.test/a.html?x=1')).to.equal(false);
    const patterns = ['/blog/', '^https?://', '\\?print=1$', '^https://x\\.test/(a|b)/\\d+$', '\\bfoo\\b', '(?:^|/)admin(?:/|$)', '[^/]+$', '\\/a\\/', ''];
    const urls = ['https://x.test/blog/1', 'https://x.test/a/12', 'http://x.test/?print=1', 'https://x.test/foo-bar', 'https://x.test/admin', 'https://x.test/administrator', 'https://x.test/a/'];
    for (const p of patterns) for (const u of urls) expect(compileUrlPattern(p).test(u), `${p} on ${u}`).to.equal(new RegExp(p).test(u));
  });

  it('refuses what RE2 cannot run, saying why, as a 400 of the API', () => {
    expect(invalidPattern(['ok', '(a)\\1'])).to.match(/"\(a\)\\1": invalid escape sequence.*backreferences and lookaround are not supported/);
    expect(invalidPattern(['(?<year>\\d{4})\\k<year>'])).to.match(/backreferences and lookaround are not supported/);
    expect(invalidPattern(['(?=x)'])).to.match(/lookaround are not supported/);
    expect(invalidPattern(['(?<!x)y'])).to.match(/"\(\?<!x\)y": .*lookaround are not supported/); // RE2 itself only says "invalid named capture"
    expect(invalidPattern(['['])).to.match(/missing closing \]/);
    expect(invalidPattern(['a{2000}'])).to.match(/invalid repeat count/);
    expect(invalidPattern(['(?<year>\\d{4})/', '(?P<m>\\d\\d)'])).to.equal(null); // named groups are fine
    const parsed = crawlRequestSchema.safeParse({ urls: ['https://x.test/'], include: ['(?!admin)'] });
    expect(parsed.success).to.equal(false);
    expect(JSON.stringify(parsed.error?.issues)).to.contain('lookaround are not supported');
  });

  it('refuses patterns too large to run on every link, one or together', () => {
    // Linear in the URL, but times the compiled size: (.*a){1000} took up to 0.8 s a link.
    expect(invalidPattern(['(.*a){1000}'])).to.match(/"\(\.\*a\)\{1000\}": too complex \(5002 instructions compiled, at most 1000/);
    expect(invalidPattern(['.{0,499}b'])).to.match(/too complex/);
    expect(invalidPattern(['(.*a){20}'])).to.equal(null);
    const each = Math.floor(MAX_PATTERN_SIZE / 5) - 1; // (.*a){k} compiles to 5k + 2 instructions
    const many = Array.from({ length: Math.ceil(MAX_LIST_SIZE / MAX_PATTERN_SIZE) + 1 }, (_, i) => `(.*${String.fromCharCode(97 + i)}){${each}}`);
    expect(invalidPattern(many.slice(0, 1))).to.equal(null);
    expect(invalidPattern(many)).to.match(/^list: 5 patterns together too complex \(4985 instructions compiled, at most 4000/);
    const ordinary = Array.from({ length: 50 }, (_, i) => `^https?://(www\\.)?site${i}\\.example/(blog|news)/\\d{4}/`);
    expect(invalidPattern(ordinary)).to.equal(null); // 50 ordinary patterns fit
    // A session recorded before the bounds still runs: the scope compiles whatever RE2 can.
    expect(compileUrlPattern('(.*a){1000}').test('xa')).to.equal(false);
  });

  it('a crawl scope with such a pattern judges a long link at once', () => {
    const scope = new CrawlScope({
      startUrls: ['http://h/'],
      include: ['^https?://[^/]+/(a+)+$'],
      exclude: ['(a|a)*!$', '(.*a){20}x'],
      followExternal: false,
      maxDepth: 5,
      maxUrlLength: 10_000,
    });
    let verdict = scope.checkPage('http://h/b', 1);
    expect(verdict.ok).to.equal(false);
    expect(ms(() => (verdict = scope.checkPage(`http://h/${'a'.repeat(5000)}!`, 1)))).to.be.below(20);
    expect(verdict).to.deep.equal({ ok: false, reason: 'matches no include pattern' });
    expect(ms(() => (verdict = scope.checkPage(`http://h/${'a'.repeat(5000)}`, 1)))).to.be.below(20);
    expect(verdict).to.deep.equal({ ok: true });
  });
});
