// Serves the hostile site (src/demo/hostile-site.ts) from its own process for bench/hostile-bench.ts,
// so the crawler being measured has its event loop to itself. Reports its URLs over IPC and,
// when asked, the request counts.
import { startHostileSite } from '../src/demo/hostile-site';

void (async () => {
  const site = await startHostileSite();
  process.send?.({ startUrl: site.startUrl, ordinary: [...site.ordinary.keys()], traps: [...site.traps].map(([url, re]) => [url, re.source]) });
  process.on('message', (m: { cmd?: string }) => {
    if (m?.cmd === 'requests') process.send?.({ requests: [...site.requests] });
    if (m?.cmd === 'close') void site.close().then(() => process.exit(0));
  });
})();
