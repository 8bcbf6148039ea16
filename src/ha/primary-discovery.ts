import type { AppConfig } from '../config/config-schema';
import { decide } from './failover-decision';
import { probeNode } from './health-probe';

/**
 * Which node a process should write to when the cluster state in Redis names no primary (Redis
 * restarted empty, or a first start): the nodes are asked directly and the same decision the
 * health checks make picks the writable node on the newest timeline — never simply the first
 * configured node, which may be a former primary that came back writable.
 */
export async function discoverPrimary(config: AppConfig, recordedSystemId: string | null = null): Promise<string | null> {
  const ha = config.ha;
  const probes = await Promise.all(config.database.nodes.map((n) => probeNode(n, timeouts(config))));
  const nodes = config.database.nodes.map((n, i) => ({
    name: n.name,
    priority: n.priority,
    reachable: probes[i].ok,
    consecutiveFailures: probes[i].ok ? 0 : 1,
    inRecovery: probes[i].inRecovery,
    lagBytes: null,
    timeline: probes[i].timeline,
    systemId: probes[i].systemId,
  }));
  const { decision } = decide({ term: 0, primary: null, systemId: recordedSystemId, nodes }, { failureThreshold: ha.failure_threshold, autoFailover: false, maximumLagOnFailoverBytes: 0 });
  return decision.kind === 'adopt' ? decision.primary : null;
}

/** Does `name` answer, out of recovery? */
export async function isWritable(config: AppConfig, name: string): Promise<boolean> {
  const node = config.database.nodes.find((n) => n.name === name);
  if (!node) return false;
  const probe = await probeNode(node, timeouts(config));
  return probe.ok && probe.inRecovery === false;
}

function timeouts(config: AppConfig) {
  return { connectTimeoutMs: config.ha.probe_connect_timeout_ms, responseTimeoutMs: config.ha.response_timeout_s * 1000 };
}
