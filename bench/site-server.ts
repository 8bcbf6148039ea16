// Serves the synthetic benchmark site from its own process, so the crawler's memory and CPU
// figures are its own: through nginx when it is installed (see nginx-front.ts), else from Node.
// Started by crawl-bench.ts; reports its address over IPC.
import { startSyntheticSite } from '../src/demo/synthetic-site';
import { freePort } from '../test/support/ports';
import { findNginx, startNginxFront, type NginxFront } from './nginx-front';

async function main() {
  const [pages, imagesPerPage, seed] = process.argv.slice(2, 5).map(Number);
  const choice = process.argv[5] ?? 'auto';
  const latencyMs = Number(process.argv[6] ?? 0);
  // nginx cannot hold each response back: a latency site is served by Node.
  const nginx = choice === 'node' || latencyMs > 0 ? undefined : findNginx();
  if (choice === 'nginx' && latencyMs > 0) throw new Error('--latency-ms: the site is served by Node (nginx adds no latency)');
  if (choice === 'nginx' && !nginx) throw new Error('--server nginx: no nginx found (apt-get install nginx-light)');
  const publishAt = nginx ? { origin: `http://127.0.0.1:${await freePort()}`, cdnOrigin: `http://127.0.0.1:${await freePort()}` } : undefined;
  const site = await startSyntheticSite({ pages, imagesPerPage, minImageBytes: 5_000, maxImageBytes: 60_000, seed, specials: true, slowMs: 200, slowSucceeds: true, publishAt, latencyMs });
  const front: NginxFront | undefined = nginx ? await startNginxFront(nginx, site) : undefined;
  const ok = [...site.expected.values()].filter((e) => e.ok).length;
  // Never outlive the benchmark, even when it crashes.
  process.on('disconnect', async () => {
    await front?.close().catch(() => undefined);
    process.exit(0);
  });
  const ready = process.cpuUsage(); // generating the site is not serving it
  const frontReady = front?.cpuS() ?? 0;
  process.send?.({ startUrl: site.startUrl, expected: site.expected.size, expectedOk: ok, imageBytes: site.imageBytes, server: front ? 'nginx' : 'node' });
  process.on('message', async (m) => {
    if (m === 'requests') {
      const cpu = process.cpuUsage(ready);
      const cpuS = (cpu.user + cpu.system) / 1e6 + (front ? front.cpuS() - frontReady : 0);
      process.send?.({ requests: front ? await front.requests() : site.requests.length, cpuS });
    }
    if (m === 'close') {
      await front?.close();
      await site.close();
      process.exit(0);
    }
  });
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
