import type { AppConfig } from '../config/config-schema';
import { decide } from './failover-decision';
import { probeNode } from './health-probe';

/**
 * Which node a process should write to when the cluster state in Redis names no primary (Redis
 * restarted empty, or a first start): the nodes are asked directly and the same decision the
 * health checks make picks the writable node on the newest timeline — never simply the first
 * configured node, which may be a former primary that came back writable.
 */
export async function discoverPrimary(config: AppConfig): Promise<string | null> {
  const ha = config.ha;
  const probes = await Promise.all(
    config.database.nodes.map((n) => probeNode(n, { connectTimeoutMs: ha.probe_connect_timeout_ms, responseTimeoutMs: ha.response_timeout_s * 1000 })),
  );
  const nodes = config.database.nodes.map((n, i) => ({
    name: n.name,
    priority: n.priority,
    reachable: probes[i].ok,
    consecutiveFailures: probes[i].ok ? 0 : 1,
    inRecovery: probes[i].inRecovery,
    lagBytes: null,
    timeline: probes[i].timeline,
  }));
  const { decision } = decide({ term: 0, primary: null, nodes }, { failureThreshold: ha.failure_threshold, autoFailover: false, maximumLagOnFailoverBytes: 0 });
  return decision.kind === 'adopt' ? decision.primary : null;
}
