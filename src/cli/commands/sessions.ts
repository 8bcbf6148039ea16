import { loadConfig } from '../../config/load-config';
import { Runtime } from '../../runtime';
import { cliActor, listAudit, recordAudit } from '../../audit/audit-log';
import { failureGroups } from '../../sessions/session-report';
import type { SessionView } from '../../sessions/session-service';
import { UsageError, intOption, parse } from '../args';

export const SESSIONS_HELP = `image-crawler sessions [--limit N] [--json]
image-crawler status [ID] [--json]
image-crawler stop ID
image-crawler failures [ID] [--samples N] [--json]

sessions   the crawl sessions, newest first (default 20)
status     one session's counts (the newest by default)
stop       stop a session: queued work is skipped, running jobs finish
failures   why URLs failed: pages and images grouped by reason, with the first URLs of each
audit      who changed what (API, console and command line), newest first: image-crawler audit [--limit N] [--json]`;

/** The commands that look at sessions (or stop one) without running any work. */
export async function sessionsCommand(argv: string[]): Promise<number> {
  return withRuntime(argv, { limit: { type: 'string' } }, async (rt, values, json) => {
    const limit = intOption(values.limit as string | undefined, 'limit', 1) ?? 20;
    const sessions = await rt.sessions.list(limit, 0);
    if (json) return print(sessions);
    if (sessions.length === 0) return void console.log('no crawl session recorded yet');
    for (const s of sessions) console.log(line(s));
  });
}

export async function statusCommand(argv: string[]): Promise<number> {
  return withRuntime(argv, {}, async (rt, _values, json, positionals) => {
    const session = await find(rt, positionals[0]);
    if (json) return print(session);
    console.log(line(session));
    console.log(
      [
        `  pages     ${session.pages_crawled} crawled, ${session.pages_failed} failed`,
        `  images    ${session.images_stored} stored of ${session.images_found} found, ${session.images_failed} failed, ${session.images_duplicate} duplicates, ${session.images_revalidated} unchanged (304)`,
        `  bytes     ${(session.bytes_downloaded / 1e6).toFixed(1)} MB`,
        `  pending   ${session.pending}`,
        `  retries   ${session.retries}, errors ${session.errors}`,
      ].join('\n'),
    );
  });
}

export async function stopCommand(argv: string[]): Promise<number> {
  return withRuntime(argv, {}, async (rt, _values, json, positionals) => {
    if (!positionals[0]) throw new UsageError('which session? image-crawler stop ID (see image-crawler sessions)');
    const session = await find(rt, positionals[0]);
    const stopped = (await rt.sessions.stop(session.id)) ?? session;
    await recordAudit(rt.knex, { actor: cliActor(), role: 'operator', ip: null, action: 'cli stop', target: session.id, params: {}, outcome: stopped.status });
    if (json) return print(stopped);
    console.log(`session ${stopped.id}: ${stopped.status}`);
  });
}

export async function auditCommand(argv: string[]): Promise<number> {
  return withRuntime(argv, { limit: { type: 'string' } }, async (rt, values, json) => {
    const entries = await listAudit(rt.knex, intOption(values.limit as string | undefined, 'limit', 1) ?? 50);
    if (json) return print(entries);
    if (entries.length === 0) return void console.log('nothing recorded yet');
    for (const e of entries) {
      console.log(`${new Date(e.at).toISOString().replace('T', ' ').slice(0, 19)}  ${e.actor} (${e.role})${e.ip ? ' from ' + e.ip : ''}  ${e.action}${e.target ? ' ' + e.target : ''}  → ${e.outcome}`);
    }
  });
}

export async function failuresCommand(argv: string[]): Promise<number> {
  return withRuntime(argv, { samples: { type: 'string' } }, async (rt, values, json, positionals) => {
    const session = await find(rt, positionals[0]);
    const groups = await failureGroups(rt.knex, session.id, intOption(values.samples as string | undefined, 'samples', 0) ?? 5);
    if (json) return print({ sessionId: session.id, groups });
    if (groups.length === 0) return void console.log(`session ${session.id}: nothing failed`);
    console.log(`session ${session.id}: ${groups.reduce((n, g) => n + g.count, 0)} failed URLs`);
    for (const g of groups) {
      console.log(`\n${g.count} ${g.kind}${g.count === 1 ? '' : 's'}: ${g.reason}`);
      for (const url of g.urls) console.log(`  ${url}`);
      if (g.count > g.urls.length) console.log(`  … and ${g.count - g.urls.length} more (image-crawler export lists every one)`);
    }
  });
}

type Values = Record<string, string | boolean | undefined>;

async function withRuntime(
  argv: string[],
  options: Parameters<typeof parse>[1],
  run: (rt: Runtime, values: Values, json: boolean, positionals: string[]) => Promise<void>,
): Promise<number> {
  const { values, positionals } = parse(argv, { ...options, json: { type: 'boolean' } }, true);
  if (values.help) {
    console.log(SESSIONS_HELP);
    return 0;
  }
  const rt = await Runtime.create(loadConfig({ file: values.config as string | undefined }));
  try {
    await run(rt, values as Values, Boolean(values.json), positionals);
    return 0;
  } finally {
    await rt.close();
  }
}

async function find(rt: Runtime, id: string | undefined): Promise<SessionView> {
  if (id !== undefined && !/^[0-9a-f-]{36}$/i.test(id)) throw new UsageError(`"${id}" is not a session id (see image-crawler sessions)`);
  const session = id ? await rt.sessions.view(id) : await rt.sessions.latest();
  if (!session) throw new UsageError(id ? `no crawl session ${id}` : 'no crawl session recorded yet');
  return session;
}

function line(s: SessionView): string {
  const started = s.started_at ? new Date(s.started_at).toISOString().replace('T', ' ').slice(0, 19) : '';
  return `${s.id}  ${s.status.padEnd(9)} ${started}  pages ${s.pages_crawled}  images ${s.images_stored}/${s.images_found}  failed ${s.pages_failed + s.images_failed}`;
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
