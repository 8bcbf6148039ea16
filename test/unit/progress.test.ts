import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { CrawlProgress } from '../../src/cli/progress';
import type { SessionView } from '../../src/sessions/session-service';

const view = (pages: number, found: number, stored: number, pending: number) =>
  ({ pages_crawled: pages, pages_failed: 0, images_found: found, images_stored: stored, bytes_downloaded: stored * 1000, errors: 0, pending }) as unknown as SessionView;

describe('crawl progress without a terminal', () => {
  it('prints a line at once and then one per interval, not one per update and not one per crawl', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const progress = new CrawlProgress(false, out, 60_000);
    progress.note('session 1234');
    for (let i = 1; i <= 100; i++) progress.update(view(i, i * 10, i * 9, 5), i / 10);
    const lines = text.trim().split('\n');
    expect(lines[0]).to.equal('session 1234');
    expect(lines).to.have.length(2);
    expect(lines[1]).to.match(/^progress: pages 1, images 9\/10, 0\.0 MB, errors 0, pending 5$/);
    const every = new CrawlProgress(false, out, 0);
    text = '';
    for (let i = 1; i <= 3; i++) every.update(view(i, i, i, 0), 1);
    expect(text.trim().split('\n')).to.have.length(3);
  });
});
