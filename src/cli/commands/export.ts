import fs from 'node:fs';
import { once } from 'node:events';
import { loadConfig } from '../../config/load-config';
import { Runtime } from '../../runtime';
import { UsageError, parse } from '../args';

export const EXPORT_HELP = `image-crawler export [--session ID] [--out FILE]

Writes one JSON line per image URL of a session (the most recent one by default):
{"url","state","error","sha256","bytes","width","height","format","pageUrl","status","phash","metadata","revalidated"}
  state   stored | failed | skipped | pending (not finished yet)
  error   why it was not stored (null when stored)
  status  HTTP status of the last response, 0 when none came
  phash   64-bit perceptual hash, 16 hex digits (stored raster images; null otherwise)
  metadata  what image-processor plugins added (null when none did)
  revalidated  true when a re-crawl (--since) got a 304 and kept the earlier file`;

const PAGE = 1000;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { session: { type: 'string' }, out: { type: 'string' } });
  if (values.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  const rt = await Runtime.create(loadConfig({ file: values.config }));
  try {
    const session = values.session ? await rt.sessions.view(values.session).catch(() => undefined) : await rt.sessions.latest();
    if (!session) throw new UsageError(values.session ? `no crawl session ${values.session}` : 'no crawl session recorded yet');
    const out = values.out ? fs.createWriteStream(values.out) : process.stdout;
    let afterId = 0;
    let count = 0;
    for (;;) {
      const rows = await rt.images.list({ sessionId: session.id, afterId }, PAGE);
      for (const r of rows) {
        const line = JSON.stringify({
          url: r.url,
          state: r.status,
          error: r.error,
          sha256: r.sha256,
          bytes: r.file_size,
          width: r.width,
          height: r.height,
          format: r.format,
          pageUrl: r.page_url,
          status: r.http_status,
          phash: r.metadata?.phash ?? null,
          metadata: r.metadata ?? null,
          revalidated: r.revalidated === true,
        });
        if (!out.write(`${line}\n`)) await once(out, 'drain');
      }
      count += rows.length;
      if (rows.length < PAGE) break;
      afterId = rows[rows.length - 1].id;
    }
    if (out !== process.stdout) {
      (out as fs.WriteStream).end();
      await once(out, 'finish');
      process.stderr.write(`exported ${count} images of session ${session.id} to ${values.out}\n`);
    }
    return 0;
  } finally {
    await rt.close();
  }
}
