import { expect } from 'chai';
import type { ImageRow } from '../../src/db/image-repository';
import { HostileSite, startHostileSite } from '../../src/demo/hostile-site';
import { startTestRuntime, testConfig } from '../support/test-env';

describe('a site written to hurt crawlers (every trap of issue 11 among ordinary images)', function () {
  this.timeout(240_000);
  let site: HostileSite;
  let rows: Map<string, ImageRow>;
  let pages: Map<string, { status: string; links_dropped: number; srcset_dropped: number }>;
  let status: string;

  before(async () => {
    site = await startHostileSite();
    const t = await startTestRuntime(testConfig({ worker: { attempts: 3 }, crawler: { request_timeout_ms: 3000, connect_timeout_ms: 2000 } }));
    try {
      const { id } = await t.rt.sessions.start({ urls: [site.startUrl] });
      status = (await t.waitForSession(id, 200_000)).status;
      rows = new Map((await t.rt.knex<ImageRow>('images').where({ session_id: id })).map((r) => [r.url, r]));
      pages = new Map((await t.rt.knex('pages').where({ session_id: id })).map((r) => [new URL(r.url).pathname, r]));
    } finally {
      await t.close();
      await site.close();
    }
  });

  it('finishes', () => {
    expect(status).to.equal('completed');
  });

  it('stores every ordinary image, with the bytes the server sent', () => {
    for (const [url, sha256] of site.ordinary) {
      const row = rows.get(url);
      expect(row?.status, `${url}: ${row?.error}`).to.equal('stored');
      if (sha256) expect(row?.sha256, url).to.equal(sha256);
    }
  });

  it('records every trap image as failed, with its reason', () => {
    for (const [url, reason] of site.traps) {
      const row = rows.get(url);
      expect(row?.status, `${url}: ${row?.error}`).to.equal('failed');
      expect(row?.error, url).to.match(reason);
    }
  });

  it('asks for no URL more than three times', () => {
    const over = [...site.requests].filter(([, n]) => n > 3);
    expect(over).to.deep.equal([]);
  });

  it('follows a bounded share of the traps: links per page, srcset candidates, the @import chain', () => {
    const count = (prefix: string) => [...site.requests.keys()].filter((p) => p.startsWith(prefix)).length;
    expect(count('/big/')).to.be.at.most(1000);
    expect(count('/srcset/')).to.be.at.most(8);
    expect(count('/chain/')).to.be.at.most(30);
    // What the caps cut is recorded on the page.
    expect(pages.get('/big')).to.include({ status: 'crawled', links_dropped: 99_000 });
    expect(pages.get('/srcset')?.srcset_dropped).to.equal(5000 - 8);
  });

  it('reads broken HTML as a browser: what a browser would not request is not requested', () => {
    expect(site.requests.has('/never.png')).to.equal(false); // inside <textarea>: text
    expect(site.requests.has('/cut-at-eof.png')).to.equal(false); // a tag cut by the end of the file is dropped
  });
});
