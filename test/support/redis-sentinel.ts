import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports';
import { tempDir } from './test-env';
import { waitFor } from './wait-for';

/**
 * A real Redis primary, one replica and three sentinels watching them (quorum 2, a primary
 * counts as down after 1 s), on spare ports, without persistence. For tests that kill the
 * Redis primary and expect the sentinels to promote the replica.
 */
export class SentinelRedis {
  private readonly procs = new Map<number, ChildProcess>();

  private constructor(readonly primaryPort: number, readonly replicaPort: number, readonly sentinelPorts: number[], readonly name: string) {}

  static async start(name = 'mymaster'): Promise<SentinelRedis> {
    const ports: number[] = [];
    while (ports.length < 5) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const [primary, replica, ...sentinels] = ports;
    const r = new SentinelRedis(primary, replica, sentinels, name);
    const dir = tempDir('sentinel');
    // --dir: a replica's full sync writes the primary's snapshot to disk, never into the work tree.
    r.spawn(primary, ['--port', String(primary), '--dir', dir]);
    r.spawn(replica, ['--port', String(replica), '--replicaof', '127.0.0.1', String(primary), '--dir', dir]);
    for (const port of sentinels) {
      const conf = path.join(dir, `sentinel-${port}.conf`);
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      r.procs.set(port, spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    }
    const replicaConn = new Redis(replica, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await waitFor('the replica is in sync with the primary', async () => {
        const info = await replicaConn.info('replication').catch(() => '');
        return /master_link_status:up/.test(info);
      }, 20_000);
    } finally {
      replicaConn.disconnect();
    }
    await waitFor('every sentinel knows the replica', async () => {
      const counts = await Promise.all(r.sentinelPorts.map((p) => r.replicasSeenBy(p)));
      return counts.every((n) => n >= 1);
    }, 20_000);
    return r;
  }

  /** "host:port" of each sentinel, for `redis.sentinels`. */
  get sentinels(): string[] {
    return this.sentinelPorts.map((p) => `127.0.0.1:${p}`);
  }

  /** The port of the primary the sentinels name now. */
  async currentPrimaryPort(): Promise<number> {
    const s = new Redis(this.sentinelPorts[0], '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const [, port] = (await s.call('SENTINEL', 'get-master-addr-by-name', this.name)) as [string, string];
      return Number(port);
    } finally {
      s.disconnect();
    }
  }

  /** SIGKILL the Redis primary (the sentinels then promote the replica). */
  async killPrimary(): Promise<void> {
    const proc = this.procs.get(this.primaryPort);
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  }

  async stop(): Promise<void> {
    for (const proc of this.procs.values()) if (proc.exitCode === null) proc.kill('SIGKILL');
  }

  private spawn(port: number, args: string[]): void {
    this.procs.set(port, spawn('redis-server', [...args, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  }

  private async replicasSeenBy(port: number): Promise<number> {
    const s = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      const replicas = (await s.call('SENTINEL', 'replicas', this.name).catch(() => [])) as unknown[];
      return replicas.length;
    } finally {
      s.disconnect();
    }
  }
}
