import { ConfigError, ServiceUnavailableError } from '../errors';
import { UsageError } from './args';
import { BACKUP_HELP, backupCommand } from './commands/backup';
import { CLUSTER_HELP, clusterCommand } from './commands/cluster';
import { CRAWL_HELP, crawlCommand } from './commands/crawl';
import { DEMO_HELP, demoCommand } from './commands/demo';
import { HA_HELP, haCommand } from './commands/ha';
import { EXPORT_HELP, exportCommand } from './commands/export';
import { SYNC_HELP, syncCommand } from './commands/sync';
import { haApiCommand, migrateCommand, webCommand, workerCommand } from './commands/serve';
import { SESSIONS_HELP, auditCommand, failuresCommand, sessionsCommand, statusCommand, stopCommand } from './commands/sessions';

const HELP = `image-crawler <command> [options]

Commands:
  demo                 crawl a bundled sample site on 127.0.0.1 (first run, no internet needed)
  crawl <url...>       crawl sites in this process and print a summary
  export               write a session's images as JSON lines
  sessions             list crawl sessions; status [ID], stop ID, failures [ID] (why URLs failed)
  audit                who changed what, from where (API, console, command line)
  web                  run the API (port 8000) and Bull Board (/admin/queues)
  ha-api               run the HA API (port 8001): /api/health, /api/status, /api/sync-status, /api/failover
  worker               run crawl and download workers
  migrate              create the database if needed and apply migrations
  cluster up|down|status  a local two-node PostgreSQL cluster (primary + streaming standby)
  ha status            health, roles, term and failovers of the configured nodes
  sync status|run      image files across hosts: queued copies, full sync now (see below)
  backup run|list|verify|restore|worker   database (pgBackRest) and file (restic) backups

Every command takes --config FILE (or $IMAGE_CRAWLER_CONFIG); see README.md.

${CRAWL_HELP}

${EXPORT_HELP}

${SESSIONS_HELP}

${DEMO_HELP}

${CLUSTER_HELP}

${HA_HELP}

${SYNC_HELP}

${BACKUP_HELP}`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  crawl: crawlCommand,
  export: exportCommand,
  sessions: sessionsCommand,
  status: statusCommand,
  stop: stopCommand,
  failures: failuresCommand,
  audit: auditCommand,
  demo: demoCommand,
  web: webCommand,
  'ha-api': haApiCommand,
  worker: workerCommand,
  migrate: migrateCommand,
  cluster: clusterCommand,
  ha: haCommand,
  sync: syncCommand,
  backup: backupCommand,
};

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    process.exitCode = name ? 0 : 2;
    return;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`);
    process.exitCode = await command(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`image-crawler ${name}: ${err.message}\n(see image-crawler --help)\n`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`image-crawler: ${err.message}\n`);
      process.exitCode = 78; // EX_CONFIG
    } else if (err instanceof ServiceUnavailableError) {
      process.stderr.write(`image-crawler ${name}: ${err.message}\n`);
      process.exitCode = 69; // EX_UNAVAILABLE
    } else {
      process.stderr.write(`image-crawler ${name} failed: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    }
  }
}

if (require.main === module) void main(process.argv.slice(2));
