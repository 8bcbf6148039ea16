import { expect } from 'chai';
import { CrawlScope } from '../../src/crawler/crawl-scope';
import { crawlRequestSchema } from '../../src/crawler/crawl-options';
import { compileUrlPattern, invalidPattern } from '../../src/crawler/url-pattern';

describe('include/exclude patterns run in linear time', () => {
  const catastrophic: [string, string][] = [
    ['^https?://[^/]+/(a+)+$', `http://h/${'a'.repeat(1000)}!`],
    ['(a|a)*$', `${'a'.repeat(1000)}!`],
    ['(.*a){20}', 'a'.repeat(40)],
    ['^(\\w+\\s?)*$', `${'word '.repeat(200)}!`],
  ];

  it('decides known catastrophic patterns on almost-matching input in milliseconds', () => {
    for (const [pattern, input] of catastrophic) {
      const re = compileUrlPattern(pattern);
      const started = performance.now();
      re.test(input);
      expect(performance.now() - started, pattern).to.be.below(250); // backtracking: beyond the age of the universe
    }
  });

  it('searches like RegExp#test unless anchored', () => {
    expect(compileUrlPattern('/gallery/').test('https://x.test/a/gallery/1')).to.equal(true);
    expect(compileUrlPattern('^/gallery/').test('https://x.test/gallery/1')).to.equal(false);
    expect(compileUrlPattern('\\.html$').test('https://x.test/a.html')).to.equal(true);
  });

  it('refuses what RE2 cannot run, saying why, as a 400 of the API', () => {
    expect(invalidPattern(['ok', '(a)\\1'])).to.match(/"\(a\)\\1": invalid escape sequence.*backreferences and lookaround are not supported/);
    expect(invalidPattern(['(?=x)'])).to.match(/lookaround are not supported/);
    expect(invalidPattern(['['])).to.match(/missing closing \]/);
    const parsed = crawlRequestSchema.safeParse({ urls: ['https://x.test/'], include: ['(?!admin)'] });
    expect(parsed.success).to.equal(false);
  });

  it('a crawl scope with such a pattern judges a long link at once', () => {
    const scope = new CrawlScope({ startUrls: ['http://h/'], include: ['^https?://[^/]+/(a+)+$'], exclude: [], followExternal: false, maxDepth: 5, maxUrlLength: 10_000 });
    const started = performance.now();
    expect(scope.checkPage(`http://h/${'a'.repeat(5000)}!`, 1).ok).to.equal(false);
    expect(performance.now() - started).to.be.below(100);
  });
});
