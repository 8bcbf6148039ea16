// Serves the synthetic benchmark site from its own process, so the crawler's memory and CPU
// figures are its own. Started by crawl-bench.ts; reports its address over IPC.
import { startSyntheticSite } from '../src/demo/synthetic-site';

async function main() {
  const [pages, imagesPerPage, seed] = process.argv.slice(2).map(Number);
  const site = await startSyntheticSite({ pages, imagesPerPage, minImageBytes: 5_000, maxImageBytes: 60_000, seed, specials: true, slowMs: 200, slowSucceeds: true });
  const ok = [...site.expected.values()].filter((e) => e.ok).length;
  // Never outlive the benchmark, even when it crashes.
  process.on('disconnect', () => process.exit(0));
  const ready = process.cpuUsage(); // generating the site is not serving it
  process.send?.({ startUrl: site.startUrl, expected: site.expected.size, expectedOk: ok, imageBytes: site.imageBytes });
  process.on('message', async (m) => {
    if (m === 'requests') {
      const cpu = process.cpuUsage(ready);
      process.send?.({ requests: site.requests.length, cpuS: (cpu.user + cpu.system) / 1e6 });
    }
    if (m === 'close') {
      await site.close();
      process.exit(0);
    }
  });
}
void main();
