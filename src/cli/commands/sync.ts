import { cliActor, recordAudit } from '../../audit/audit-log';
import { CheckResult, runConsistencyCheck } from '../../consistency/consistency-check';
import { loadConfig } from '../../config/load-config';
import { rescueRows } from '../../consistency/rescue';
import { Runtime } from '../../runtime';
import { ContentStore } from '../../storage/content-store';
import { syncOverview } from '../../sync/sync-overview';
import { UsageError, parse, quietLogs } from '../args';

export const SYNC_HELP = `image-crawler sync status [--json] | check [--json] [--no-repair] | run [--json] | push FILE --peer NAME | rescue --node NODE [--dry-run] | pause | resume

  status   this host, its peers and the copies queued for each, the last full sync, replication
  check    a consistency check now: every database node against the primary (counts, latest
           row, id range, bucket checksums down to the differing rows) and every host's files
           against the rows (missing/corrupt files fetched again unless --no-repair); prints
           each result and an overall ok, exits 1 when anything disagrees
  run      a differential full file sync now, from this host: fetch what it lacks, send every
           peer what that peer lacks; exits 1 when a file could not be placed everywhere
  push     send one stored file (<sha256>.<ext>) to a peer now (resumes a broken transfer)
  rescue   copy into the primary the rows only NODE (an old primary) holds; --dry-run shows them
  pause    hold every copy, full sync and check (in every process) until resume`;

export async function syncCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { peer: { type: 'string' }, verbose: { type: 'boolean' }, 'no-repair': { type: 'boolean' }, node: { type: 'string' }, 'dry-run': { type: 'boolean' } }, true);
  const action = positionals[0];
  if (values.help || !['status', 'check', 'run', 'push', 'rescue', 'pause', 'resume'].includes(action ?? '')) {
    if (!values.help) throw new UsageError('sync needs a subcommand: status, check, run, push, rescue, pause or resume');
    console.log(SYNC_HELP);
    return 0;
  }
  const config = loadConfig({ file: values.config, overrides: quietLogs(values.verbose) });
  const rt = await Runtime.create(config);
  // What changes something is audited: who ran it from which shell account, and how it ended.
  const changes = ['run', 'push', 'rescue', 'pause', 'resume'].includes(action as string);
  let outcome = 'error';
  try {
    const code = await run();
    outcome = code === 0 ? 'ok' : `exit ${code}`;
    return code;
  } finally {
    if (changes) {
      const params = { node: values.node ?? null, peer: values.peer ?? null, dryRun: values['dry-run'] ?? null, file: positionals[1] ?? null };
      await recordAudit(rt.knex, { actor: cliActor(), role: 'admin', ip: null, action: `cli sync ${action}`, target: (values.node as string | undefined) ?? (values.peer as string | undefined) ?? null, params, outcome });
    }
    await rt.close();
  }

  async function run(): Promise<number> {
    const fileSync = rt.fileSync;
    switch (action) {
      case 'push': {
        const peer = fileSync.peers.find((p) => p.peer.name === values.peer);
        if (!peer) throw new UsageError(`--peer must name one of: ${fileSync.peers.map((p) => p.peer.name).join(', ') || '(no sync.peers configured)'}`);
        let name;
        try {
          name = ContentStore.parseName(positionals[1] ?? '');
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        if (!(await rt.store.has(name.relativePath))) throw new UsageError(`${positionals[1]} is not in this host's store`);
        const r = await peer.push(rt.store, name);
        console.log(values.json ? JSON.stringify(r) : r.existed ? `${peer.peer.name} has it already` : `sent ${r.bytesSent} bytes${r.resumedFrom ? ` (resumed at ${r.resumedFrom})` : ''}`);
        return 0;
      }
      case 'check': {
        const r = await runConsistencyCheck(rt, 'cli', !values['no-repair']);
        console.log(values.json ? JSON.stringify(r) : formatCheck(r));
        return r.ok ? 0 : 1;
      }
      case 'run': {
        const r = await fileSync.fullSync();
        if (values.json) console.log(JSON.stringify(r));
        else {
          console.log(`${r.host}: fetched ${r.pulled} file(s) it lacked${r.unavailable.length ? `; ${r.unavailable.length} no host could provide` : ''}`);
          for (const p of r.peers) console.log(`  ${p.name.padEnd(12)} ${p.error ? `error: ${p.error}` : `lacked ${p.missing}, sent ${p.pushed}`}`);
          console.log(r.ok ? 'ok' : 'NOT ok');
        }
        return r.ok ? 0 : 1;
      }
      case 'rescue': {
        if (!config.database.nodes.some((n) => n.name === values.node && n.name !== rt.router.primary)) {
          throw new UsageError(`--node must name a node other than the primary (${rt.router.primary})`);
        }
        const r = await rescueRows(config, values.node as string, rt.router.primary, { dryRun: values['dry-run'] });
        if (values.json) console.log(JSON.stringify(r));
        else {
          console.log(`${r.dryRun ? 'would rescue' : 'rescued'} from ${r.node} into ${r.primary} (diverged ${r.divergedAt ?? 'at no recorded failover'}): ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted`);
          for (const t of r.tables.filter((x) => x.samples.length)) console.log(`  ${t.table}: ${t.samples.join('; ')}`);
        }
        return 0;
      }
      case 'pause':
      case 'resume':
        await fileSync.setPaused(action === 'pause');
        console.log(action === 'pause' ? 'sync paused' : 'sync resumed');
        return 0;
      default: {
        const o = await syncOverview(rt);
        if (values.json) console.log(JSON.stringify(o));
        else {
          console.log(`host ${o.host}: ${o.peers.length === 0 ? 'no peers configured (sync.peers): files stay on this host' : o.autoSync ? o.mode : 'auto sync off'}${o.paused ? ', PAUSED' : ''}`);
          for (const p of o.peers) console.log(`  → ${p.name.padEnd(12)} queued ${p.waiting + p.delayed + p.paused}, copying ${p.active}, failed ${p.failed}  ${p.url}`);
          const f = o.lastFullSync;
          console.log(f ? `last full sync ${f.startedAt} on ${f.host}: ${f.ok ? 'ok' : 'NOT ok'}` : 'no full sync yet');
          for (const r of o.rescues) console.log(`rescue ${r.startedAt}: from ${r.node} into ${r.primary}: ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted`);
          const rep = o.replication;
          console.log(`replication (${rep.mode}) from ${rep.primary}: ${rep.error ?? (rep.standbys.map((s) => `${s.name} ${s.state}/${s.syncState} lag ${s.replayLagBytes} B`).join(', ') || 'no standby connected')}`);
        }
        return 0;
      }
    }
    return 0;
  }
}

function formatCheck(r: CheckResult): string {
  const lines: string[] = [];
  for (const n of r.database.nodes) {
    lines.push(`node ${n.name} (${n.role}${n.caughtUp === false ? ', not caught up' : ''}) vs primary ${r.database.primary}: ${n.ok ? 'ok' : 'DIFFERS'}${n.error ? `: ${n.error}` : ''}`);
    for (const t of n.tables) {
      const detail = t.differingBuckets.map((b) => `bucket ${b.bucket}: missing [${b.missing.join(',')}] extra [${b.extra.join(',')}] changed [${b.changed.join(',')}]`).join('; ');
      lines.push(`  ${t.table.padEnd(16)} rows ${t.primary.count}/${t.node.count}  latest ${t.latestMatches ? 'same' : 'differs'}  range ${t.keyRangeMatches ? 'same' : 'differs'}  ${t.ok ? 'ok' : `DIFFERS ${detail}`}${t.unsettledBuckets.length ? ` (${t.unsettledBuckets.length} bucket(s) still being written)` : ''}`);
    }
  }
  if (r.database.nodes.length === 0) lines.push(r.database.error ? `database: ${r.database.error}` : 'database: one node, nothing to compare');
  for (const f of r.files) {
    lines.push(
      `host ${f.host}: ${f.error ? f.error : `${f.expected} file(s) expected, ${f.missing.length} missing, ${f.corrupt.length} corrupt, ${f.orphans} orphan(s), ${f.repaired.length} repaired`}: ${f.ok ? 'ok' : 'NOT ok'}`,
    );
  }
  lines.push(r.ok ? 'ok' : `NOT ok: ${r.summary}`);
  return lines.join('\n');
}
