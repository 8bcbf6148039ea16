import { expect } from 'chai';
import { chromium } from 'playwright-core';
import type { ImageRow } from '../../src/db/image-repository';
import { SCRIPTED_PATTERNS, type ScriptedSite, startScriptedSite } from '../../src/demo/scripted-site';
import { TestRuntime, startTestRuntime, testConfig } from '../support/test-env';

const PATIENT = 'patient-visitor';

/**
 * What Chromium requests from a page when a patient reader opens it, scrolls to the very end a
 * screen at a time (waiting for anything the scroll loads), and then stays a few seconds more.
 */
async function imagesChromiumRequests(site: ScriptedSite): Promise<Set<string>> {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    const visit = async (url: string) => {
      const context = await browser.newContext({ userAgent: PATIENT, viewport: { width: 1280, height: 900 } });
      const tab = await context.newPage();
      await tab.goto(url, { waitUntil: 'load' });
      for (let step = 0; step < 40; step++) {
        const atEnd = await tab.evaluate<boolean>('(() => { window.scrollBy(0, window.innerHeight); return window.scrollY + window.innerHeight >= document.documentElement.scrollHeight; })()');
        await tab.waitForLoadState('networkidle');
        if (atEnd) break;
      }
      await tab.waitForTimeout(3000);
      await context.close();
    };
    const queue = [...site.pages];
    await Promise.all([1, 2, 3, 4].map(async () => {
      for (let url = queue.shift(); url; url = queue.shift()) await visit(url);
    }));
  } finally {
    await browser.close();
  }
  return site.imagesServedTo(new RegExp(PATIENT));
}

describe('render mode finds what Chromium requests on pages whose images scripts make', function () {
  this.timeout(240_000);
  let site: ScriptedSite;
  let t: TestRuntime;

  before(async () => {
    site = await startScriptedSite();
    t = await startTestRuntime(testConfig({ crawler: { allow_nets: ['127.0.0.1/32'] } }));
  });
  after(async () => {
    await t?.close();
    await site?.close();
  });

  it('records at least 99.5 % of the images a patient Chromium visit requests, on every pattern of the corpus', async () => {
    const requested = await imagesChromiumRequests(site);
    const patterns = Object.keys(SCRIPTED_PATTERNS);
    const patternsSeen = new Set([...requested].map((p) => /^\/img\/([a-z-]+)-\d+\./.exec(p)?.[1]));
    expect(patterns.filter((p) => !patternsSeen.has(p)), 'patterns whose images Chromium never requested (the corpus is wrong)').to.deep.equal([]);

    const { id } = await t.rt.sessions.start({ urls: site.pages, render: true });
    expect((await t.waitForSession(id, 200_000)).status).to.equal('completed');
    const rows = await t.rt.knex<ImageRow>('images').where({ session_id: id });
    const recorded = new Set(rows.map((r) => new URL(r.url).pathname));
    const missed = [...requested].filter((p) => !recorded.has(p)).sort();
    const recall = (requested.size - missed.length) / requested.size;
    expect(missed, `recall ${(recall * 100).toFixed(1)} % of ${requested.size}; missed`).to.deep.equal([]);
    expect(recall).to.be.at.least(0.995);
    expect(rows.filter((r) => r.status !== 'stored').map((r) => `${r.url}: ${r.error}`), 'recorded but not stored').to.deep.equal([]);
  });
});
