import { loadConfig } from '../../config/load-config';
import { startSyntheticSite } from '../../demo/synthetic-site';
import { intOption, parse, quietLogs } from '../args';
import { runEmbeddedCrawl } from './crawl';

export const DEMO_HELP = `image-crawler demo [--pages N] [--json]

Serves a generated sample site on 127.0.0.1 (pages with images in every form a browser loads,
plus a CDN host, duplicates, 404s, redirects and a robots-disallowed area) and crawls it with
the full pipeline, so the first run needs no internet. Only 127.0.0.0/8 is opened.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { pages: { type: 'string' }, 'data-dir': { type: 'string' }, verbose: { type: 'boolean' } });
  if (values.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  const pages = intOption(values.pages, 'pages', 1) ?? 40;
  const config = loadConfig({
    file: values.config,
    overrides: {
      ...quietLogs(values.verbose),
      crawler: { allow_nets: ['127.0.0.0/8'], request_timeout_ms: 2000 },
      ...(values['data-dir'] ? { storage: { data_dir: values['data-dir'] } } : {}),
    },
  });
  process.stderr.write('generating the sample site…\n');
  const site = await startSyntheticSite({ pages, imagesPerPage: 10, minImageBytes: 3_000, maxImageBytes: 20_000, seed: 7, slowMs: 1500, slowSucceeds: true });
  process.stderr.write(`sample site on ${site.startUrl} (and a CDN on ${site.cdnOrigin}): ${site.expected.size} image URLs\n`);
  try {
    const summary = await runEmbeddedCrawl(config, { urls: [site.startUrl], maxDepth: 10 }, { json: Boolean(values.json) });
    return summary.status === 'completed' ? 0 : 1;
  } finally {
    await site.close();
  }
}
