import cliProgress from 'cli-progress';
import type { SessionView } from '../sessions/session-service';

/**
 * Crawl progress on stderr: a live bar on a terminal, a line every few seconds otherwise
 * (CI logs, pipes). Work done = URLs finished out of URLs claimed so far.
 */
const BAR_STEPS = 1000;

export class CrawlProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastLine = 0;
  /** The largest share shown so far: a crawl keeps finding work, and the bar must not go back. */
  private shown = 0;

  constructor(
    private readonly interactive = Boolean(process.stderr.isTTY),
    private readonly out: NodeJS.WritableStream = process.stderr,
    /** Between progress lines when not on a terminal. */
    private readonly lineEveryMs = 5000,
  ) {}

  /** Drawn at the first update, so lines written before (the session id) keep a line of their own. */
  private startBar(): cliProgress.SingleBar {
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: ' {bar} {percentage}% | pages {pages} | images {stored}/{found} | {mb} MB | errors {errors} | {rate} img/s',
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(BAR_STEPS, 0, fields(undefined, 0));
    }
    return this.bar;
  }

  update(view: SessionView, elapsedS: number): void {
    const found = view.pages_crawled + view.pages_failed + view.images_found;
    const total = Math.max(1, found + view.pending);
    const done = total - view.pending;
    if (this.interactive) {
      // Newly found URLs lower done/total; the bar waits for them instead of moving back.
      this.shown = Math.max(this.shown, done / total);
      this.startBar().update(Math.floor(this.shown * BAR_STEPS), fields(view, elapsedS));
    } else if (Date.now() - this.lastLine >= this.lineEveryMs) {
      this.lastLine = Date.now();
      const f = fields(view, elapsedS);
      this.out.write(`progress: pages ${f.pages}, images ${f.stored}/${f.found}, ${f.mb} MB, errors ${f.errors}, pending ${view.pending}\n`);
    }
  }

  /** A line of its own, between progress updates (the bar is redrawn below it). */
  note(message: string): void {
    if (this.bar) this.out.write('\n');
    this.out.write(`${message}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}

function fields(v: SessionView | undefined, elapsedS: number) {
  return {
    pages: v ? v.pages_crawled : 0,
    stored: v ? v.images_stored : 0,
    found: v ? v.images_found : 0,
    mb: v ? (v.bytes_downloaded / 1e6).toFixed(1) : '0.0',
    errors: v ? v.errors : 0,
    rate: v && elapsedS > 0 ? Math.round(v.images_stored / elapsedS) : 0,
  };
}
