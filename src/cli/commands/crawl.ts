import type { AppConfig } from '../../config/config-schema';
import type { CrawlRequest } from '../../crawler/crawl-options';
import { crawlRequestSchema } from '../../crawler/crawl-options';
import { formatZodError } from '../../config/load-config';
import { Runtime } from '../../runtime';
import type { SessionView } from '../../sessions/session-service';
import { startWorkers } from '../../workers/start-workers';
import { CrawlProgress } from '../progress';
import { UsageError, intOption, parse, quietLogs, workerConcurrency } from '../args';
import { loadConfig } from '../../config/load-config';

export const CRAWL_OPTIONS = {
  'max-pages': { type: 'string' },
  'max-depth': { type: 'string' },
  concurrency: { type: 'string' },
  'allow-private': { type: 'boolean' },
  'allow-net': { type: 'string', multiple: true },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  'follow-external': { type: 'boolean' },
  'ignore-robots': { type: 'boolean' },
  delay: { type: 'string' },
  'data-dir': { type: 'string' },
  since: { type: 'string' },
  render: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

export const CRAWL_HELP = `image-crawler crawl <url...> [options]

Crawls the given sites in this process (queues, workers, database, files) and exits when done.
  --max-pages N         page budget (default crawler.max_pages)
  --max-depth N         link depth from the start URLs (default crawler.max_depth)
  --concurrency N       images fetched at once (pages: N/4)
  --include RE          only pages whose URL matches (repeatable)
  --exclude RE          skip pages whose URL matches (repeatable)
  --follow-external     follow links to other hosts too
  --ignore-robots       do not obey robots.txt
  --delay MS            minimum gap between requests to one host
  --allow-private       allow loopback and private addresses
  --allow-net CIDR      allow one address range, e.g. 127.0.0.0/8 (repeatable)
  --data-dir DIR        where image files go (default ./data)
  --since SESSION       a re-crawl: ask whether each image SESSION stored changed
                        (If-None-Match / If-Modified-Since); a 304 keeps its file, no download
  --render              load every page in headless Chromium too: images and links made
                        by scripts, lazy loading on scroll (apt-get install chromium)
  --config FILE         YAML configuration
  --json                print the summary as one JSON object on the last line
  --verbose             log every session event (JSON lines on stderr)`;

export async function crawlCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, CRAWL_OPTIONS, true);
  if (values.help) {
    console.log(CRAWL_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('give at least one URL to crawl');
  const config = loadConfig({ file: values.config, overrides: crawlOverrides(values) });
  const request = buildRequest(positionals, values);
  const summary = await runEmbeddedCrawl(config, request, { json: Boolean(values.json) });
  if (summary.startFailures.length > 0) return 1; // nothing could be crawled at all
  return summary.status === 'completed' || summary.status === 'stopped' ? 0 : 1;
}

type CrawlValues = ReturnType<typeof parse<typeof CRAWL_OPTIONS>>['values'];

export function crawlOverrides(values: CrawlValues): Record<string, unknown> {
  const concurrency = intOption(values.concurrency, 'concurrency', 1);
  const c = concurrency ? workerConcurrency(concurrency) : undefined;
  return {
    ...quietLogs(values.verbose),
    crawler: {
      ...(values['allow-private'] ? { allow_private: true } : {}),
      ...(values['allow-net'] ? { allow_nets: values['allow-net'] } : {}),
    },
    worker: c ? { download_concurrency: c.downloadConcurrency, crawl_concurrency: c.crawlConcurrency } : {},
    storage: values['data-dir'] ? { data_dir: values['data-dir'] } : {},
  };
}

function buildRequest(urls: string[], values: CrawlValues): CrawlRequest {
  const parsed = crawlRequestSchema.safeParse({
    urls,
    maxPages: intOption(values['max-pages'], 'max-pages', 1),
    maxDepth: intOption(values['max-depth'], 'max-depth', 0),
    include: values.include,
    exclude: values.exclude,
    followExternal: values['follow-external'],
    respectRobots: values['ignore-robots'] ? false : undefined,
    politenessDelayMs: intOption(values.delay, 'delay', 0),
    since: values.since,
    render: values.render,
  });
  if (!parsed.success) throw new UsageError(formatZodError(parsed.error));
  return parsed.data;
}

export interface CrawlSummary {
  sessionId: string;
  status: string;
  pages: number;
  pagesFailed: number;
  imagesFound: number;
  imagesStored: number;
  imagesFailed: number;
  duplicates: number;
  /** Kept by a 304 to a re-crawl (`--since`): stored without a download. */
  revalidated: number;
  bytes: number;
  retries: number;
  seconds: number;
  imagesPerSecond: number;
  dataDir: string;
  /** When no page could be crawled: each start URL that failed and why. */
  startFailures: { url: string; error: string | null }[];
}

/**
 * The embedded mode: one process runs the session's workers, shows progress and returns the
 * summary when the session is complete. Ctrl-C stops the session (queued work is skipped,
 * running jobs finish); a second Ctrl-C exits at once.
 */
export async function runEmbeddedCrawl(config: AppConfig, request: CrawlRequest, opts: { json: boolean }): Promise<CrawlSummary> {
  const rt = await Runtime.create(config);
  const workers = await startWorkers(rt);
  const started = Date.now();
  let sessionId = '';
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write('\nstopping: finishing running jobs (Ctrl-C again to quit now)\n');
    if (sessionId) void rt.sessions.stop(sessionId);
  };
  process.on('SIGINT', onSigint);
  const progress = new CrawlProgress();
  try {
    const session = await rt.sessions.start(request);
    sessionId = session.id;
    process.stderr.write(`session ${sessionId}\n`);
    let view: SessionView | undefined;
    let outage: string | null = null;
    for (;;) {
      try {
        view = await rt.sessions.view(sessionId);
        if (outage) progress.note('the database answers again: the crawl goes on');
        outage = null;
      } catch (err) {
        // The workers ride through a failover (their jobs wait); so does the progress.
        if (!outage) progress.note(`the database does not answer (${(err as Error).message}); waiting for it — a failover takes seconds`);
        outage = (err as Error).message;
      }
      if (!outage) {
        if (!view) throw new Error(`session ${sessionId} disappeared`);
        progress.update(view, (Date.now() - started) / 1000);
        if (view.status !== 'running' && view.status !== 'stopping') break;
      }
      await new Promise((r) => setTimeout(r, outage ? 1000 : 200));
    }
    if (!view) throw new Error(`session ${sessionId} disappeared`);
    progress.stop();
    const startFailures = view.pages_crawled === 0 && view.pages_failed > 0 ? await rt.pages.failures(sessionId, request.urls.length) : [];
    const summary = summarize(view, started, config.storage.data_dir, startFailures);
    printSummary(summary, opts.json);
    return summary;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    await workers.close();
    await rt.close();
  }
}

function summarize(v: SessionView, started: number, dataDir: string, startFailures: CrawlSummary['startFailures']): CrawlSummary {
  const seconds = (Date.now() - started) / 1000;
  return {
    sessionId: v.id,
    status: v.status,
    pages: v.pages_crawled,
    pagesFailed: v.pages_failed,
    imagesFound: v.images_found,
    imagesStored: v.images_stored,
    imagesFailed: v.images_failed,
    duplicates: v.images_duplicate,
    revalidated: v.images_revalidated,
    bytes: v.bytes_downloaded,
    retries: v.retries,
    seconds: Math.round(seconds * 100) / 100,
    imagesPerSecond: Math.round(v.images_stored / Math.max(seconds, 0.001)),
    dataDir,
    startFailures: startFailures.map((f) => ({ url: f.url, error: f.error })),
  };
}

function printSummary(s: CrawlSummary, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(s));
    return;
  }
  console.log(
    [
      `session ${s.sessionId}: ${s.status} in ${s.seconds} s`,
      `  pages crawled   ${s.pages} (${s.pagesFailed} failed)`,
      `  images stored   ${s.imagesStored} of ${s.imagesFound} found (${s.imagesFailed} failed, ${s.duplicates} duplicates by content)`,
      ...(s.revalidated > 0 ? [`  unchanged       ${s.revalidated} kept by a 304, not downloaded again`] : []),
      `  downloaded      ${(s.bytes / 1e6).toFixed(1)} MB, ${s.imagesPerSecond} images/s`,
      `  files in        ${s.dataDir}/images`,
      `  list them with  image-crawler export --session ${s.sessionId}`,
      ...(s.startFailures.length > 0 ? ['nothing could be crawled:', ...s.startFailures.map((f) => `  ${f.url}: ${f.error ?? 'failed'}`)] : []),
    ].join('\n'),
  );
}
