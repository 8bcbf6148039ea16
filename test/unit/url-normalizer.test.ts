import { expect } from 'chai';
import { normalizeUrl, resolveUrl, urlKey } from '../../src/crawler/url-normalizer';

describe('URL normalisation', () => {
  const page = 'http://example.com/dir/page.html';

  it('resolves relative, root-relative, protocol-relative and absolute URLs like a browser', () => {
    expect(resolveUrl('a.png', page)).to.equal('http://example.com/dir/a.png');
    expect(resolveUrl('../up.png', page)).to.equal('http://example.com/up.png');
    expect(resolveUrl('/root.png', page)).to.equal('http://example.com/root.png');
    expect(resolveUrl('//cdn.example.net/x.png', 'https://example.com/')).to.equal('https://cdn.example.net/x.png');
    expect(resolveUrl('HTTPS://Example.COM:443/A.png', page)).to.equal('https://example.com/A.png');
  });

  it('drops fragments, default ports, credentials and a trailing dot on the host', () => {
    expect(normalizeUrl('http://Example.com:80/a#frag')).to.equal('http://example.com/a');
    expect(normalizeUrl('http://user:pw@example.com./a')).to.equal('http://example.com/a');
    expect(normalizeUrl('http://example.com')).to.equal('http://example.com/');
  });

  it('normalises percent-escapes: unreserved decoded, the rest upper-cased; spaces encoded', () => {
    expect(normalizeUrl('http://e.com/%7euser/a%2fb')).to.equal('http://e.com/~user/a%2Fb');
    expect(resolveUrl(' my photo.jpg ', page)).to.equal('http://example.com/dir/my%20photo.jpg');
    expect(resolveUrl('a\n.png', page)).to.equal('http://example.com/dir/a.png');
  });

  it('keeps the query as written', () => {
    expect(normalizeUrl('http://e.com/a?b=2&a=1')).to.equal('http://e.com/a?b=2&a=1');
  });

  it('skips mailto:, javascript:, tel:, data:, fragments and non-http schemes', () => {
    for (const raw of ['mailto:a@b.c', 'javascript:void(0)', ' JavaScript:x', 'tel:123', 'data:image/png;base64,AA', '#top', '', 'ftp://e.com/x']) {
      expect(resolveUrl(raw, page), raw).to.equal(null);
    }
    expect(resolveUrl('http://[::1', page)).to.equal(null);
    expect(normalizeUrl('not a url')).to.equal(null);
  });

  it('gives equal keys to equal URLs and different keys otherwise', () => {
    expect(urlKey('http://e.com/a')).to.equal(urlKey('http://e.com/a'));
    expect(urlKey('http://e.com/a')).not.to.equal(urlKey('http://e.com/b'));
    expect(urlKey('http://e.com/a')).to.match(/^[A-Za-z0-9_-]{27}$/);
  });
});
