import fs from 'node:fs';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { Slots } from '../../workers/slots';
import type { FetchedPage, PageFindings, PageTools, PluginFactory } from '../plugin-api';

/** WebRTC's UDP (ICE, STUN) would bypass the proxy and the network policy: no UDP but through it. */
const WEBRTC_THROUGH_PROXY_ONLY = '--force-webrtc-ip-handling-policy=disable_non_proxied_udp';

/** Where Debian and others put Chromium. */
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export interface RenderSettings {
  executablePath: string | null;
  /** Pages rendered at once by this process (one browser, this many tabs). */
  pages: number;
  /** Load, scripts and scrolling of one page. */
  timeoutMs: number;
  /** Screens scrolled down, one at a time, to set off lazy loading. */
  scrollSteps: number;
  /** The page is left once it has made no request for this long (timers, carousels, late scripts). */
  settleMs: number;
}

/**
 * Render mode (`--render`, `render: true` per session): each page a session asks to render is
 * loaded in headless Chromium (Debian's `chromium`, through playwright-core) — the document the
 * crawler already fetched is handed to the browser rather than fetched again — scrolled screen by
 * screen to set off lazy loading, and every image request the page makes is recorded, with the
 * links its scripts made. Every request the browser makes passes the session's network policy
 * first (one to a refused address is aborted, never sent), and goes out through the crawler's
 * guarded proxy, which connects only to the addresses it checked. One browser per process, started at
 * the first page that needs it; a pool of `pages` tabs. On by default: it costs nothing until a
 * session asks for it. Options: executable_path, pages (2), timeout_ms (30000), scroll_steps (8),
 * settle_ms (1500).
 */
export const createRender: PluginFactory = ({ options, log }) => {
  const settings: RenderSettings = {
    executablePath: typeof options.executable_path === 'string' ? options.executable_path : (process.env.CHROMIUM_PATH ?? CHROMIUM_PATHS.find((p) => fs.existsSync(p)) ?? null),
    pages: positive(options.pages, 2, 'pages'),
    timeoutMs: positive(options.timeout_ms, 30_000, 'timeout_ms'),
    scrollSteps: positive(options.scroll_steps, 8, 'scroll_steps'),
    settleMs: positive(options.settle_ms, 1500, 'settle_ms'),
  };
  const tabs = new Slots(settings.pages);
  let browser: Promise<Browser> | null = null;
  const launch = () => {
    if (!settings.executablePath) throw new Error('render: no Chromium found (apt-get install chromium, or options.executable_path / CHROMIUM_PATH)');
    browser ??= chromium.launch({ executablePath: settings.executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', WEBRTC_THROUGH_PROXY_ONLY] }).then((b) => {
      log.info('browser started', { executable: settings.executablePath });
      b.on('disconnected', () => (browser = null)); // crashed: the next page starts another
      return b;
    });
    browser.catch(() => (browser = null));
    return browser;
  };
  return {
    async processPage(page, tools) {
      if (!page.render) return undefined;
      const b = await launch();
      return tabs.use(() => renderPage(b, page, tools, settings));
    },
    async close() {
      const b = await browser?.catch(() => null);
      browser = null;
      await b?.close();
    },
  };
};

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`render: options.${name} must be a positive integer`);
  return value;
}

// Run in the page (strings: this project is compiled without the DOM's types).
const SCROLL_ONE_SCREEN = `(() => {
  window.scrollBy(0, window.innerHeight);
  return window.scrollY + window.innerHeight >= document.documentElement.scrollHeight;
})()`;
const IMAGES_AND_LINKS = `({
  images: Array.from(document.images, (img) => img.currentSrc || img.src).filter((u) => /^https?:/i.test(u)),
  links: Array.from(document.querySelectorAll('a[href]'), (a) => a.href).filter((u) => /^https?:/i.test(u)),
})`;

/** One page in a fresh context (no cookies or cache shared between pages). */
export async function renderPage(browser: Browser, page: FetchedPage, tools: PageTools, settings: RenderSettings): Promise<PageFindings> {
  const images = new Set<string>();
  let context: BrowserContext | null = null;
  try {
    // Through the crawler's proxy: the browser looks no name up, so the policy checks the address it connects to.
    context = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 900 }, proxy: await tools.browserProxy() });
    await context.route('**/*', async (route) => {
      const request = route.request();
      const url = request.url();
      if (!/^https?:/i.test(url)) return route.continue();
      if (request.isNavigationRequest() && request.frame().parentFrame() === null && url === page.url) {
        // The document the crawler fetched: not asked for twice.
        return route.fulfill({ status: 200, contentType: page.contentType || 'text/html', body: page.body });
      }
      if (!(await tools.allowed(url))) return route.abort('blockedbyclient');
      if (request.resourceType() === 'image') images.add(url);
      return route.continue();
    });
    // Images asked for otherwise (fetch() of a blob, <object data=svg>) show in their answer's type.
    context.on('response', (response) => {
      if (/^image\//i.test(response.headers()['content-type'] ?? '') && /^https?:/i.test(response.url())) images.add(response.url());
    });
    let lastActivity = Date.now();
    const active = () => (lastActivity = Date.now());
    context.on('request', active);
    context.on('requestfinished', active);
    context.on('requestfailed', active);
    const tab = await context.newPage();
    tab.setDefaultTimeout(settings.timeoutMs);
    const deadline = Date.now() + settings.timeoutMs;
    await tab.goto(page.url, { waitUntil: 'load', timeout: settings.timeoutMs });
    for (let i = 0; i < settings.scrollSteps && Date.now() < deadline; i++) {
      const atEnd = await tab.evaluate<boolean>(SCROLL_ONE_SCREEN);
      await tab.waitForTimeout(150);
      if (atEnd) break;
    }
    // Stay until the page has been quiet for settleMs: a timer or a carousel asks late. A request
    // left open (a stream, a long poll) does not hold the tab, unlike Playwright's networkidle;
    // a page that never goes quiet (polling, an endless slideshow) is left after 4 × settleMs.
    const settleBy = Math.min(deadline, Date.now() + 4 * settings.settleMs);
    for (let quiet = Date.now() - lastActivity; quiet < settings.settleMs && Date.now() < settleBy; quiet = Date.now() - lastActivity) {
      await tab.waitForTimeout(Math.min(settings.settleMs - quiet, settleBy - Date.now()));
    }
    // Images in the final DOM too (a lazy image whose request the scroll did not set off yet).
    const found = await tab.evaluate<{ images: string[]; links: string[] }>(IMAGES_AND_LINKS);
    for (const url of found.images) images.add(url);
    return { images: [...images].map((url) => ({ url })), pages: [...new Set(found.links)] };
  } finally {
    await context?.close().catch(() => undefined);
  }
}
