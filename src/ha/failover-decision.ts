/**
 * What should happen now, given what the last health checks observed: the whole failover
 * decision, pure, so every case is tested without a database (Patroni's ha.py, in small).
 * The HA manager gathers the snapshot, calls `decide`, and carries the decision out under the
 * leader lock and the cluster term.
 */

export interface NodeHealth {
  name: string;
  /** Higher wins when choosing a standby to promote. */
  priority: number;
  /** The last probe connected and answered within the response timeout. */
  reachable: boolean;
  /** Failed probes in a row (0 after a success). */
  consecutiveFailures: number;
  /** pg_is_in_recovery() of the last successful probe; null when never reached. */
  inRecovery: boolean | null;
  /**
   * How far this standby's replay was behind the primary at the last check that reached the
   * primary; null when unknown (never measured, or the primary did not list it as a replica):
   * an unknown lag is too far behind to promote automatically.
   */
  lagBytes: number | null;
  /** The timeline a writable node writes (see ProbeResult.timeline); null for standbys or when unknown. */
  timeline?: number | null;
  /** pg_control_system().system_identifier: the nodes of one cluster share it. */
  systemId?: string | null;
  /** Was it a synchronous standby when the primary was last seen? null when never observed. */
  synchronous?: boolean | null;
}

export interface ClusterSnapshot {
  /** Fencing term: bumped by every failover; a process acting with an older term is stale. */
  term: number;
  /** The node the cluster state names primary; null before the first check. */
  primary: string | null;
  /** The system identifier the state was recorded for; null when never recorded. */
  systemId?: string | null;
  nodes: NodeHealth[];
}

export interface FailoverPolicy {
  /** Consecutive failed probes before the primary counts as down. SPEC default 3. */
  failureThreshold: number;
  /** Promote automatically; when false only a manual failover moves the primary. */
  autoFailover: boolean;
  /** A standby further behind than this is not promoted automatically. */
  maximumLagOnFailoverBytes: number;
  /**
   * Only a standby that was synchronous when the primary was last seen is promoted automatically
   * (sync and semi-sync modes: what they promise — nothing acknowledged is lost — holds only then).
   */
  requireSynchronous?: boolean;
}

export type Decision =
  | { kind: 'healthy'; primary: string }
  /**
   * No primary recorded yet (or the record is behind a node's timeline): the reachable node out
   * of recovery on the newest timeline becomes it.
   */
  | { kind: 'adopt'; primary: string; reason?: string }
  | { kind: 'waiting'; primary: string; failures: number; reason: string }
  | { kind: 'failover'; from: string | null; to: string; reason: string }
  /** The recorded primary is still in recovery (its promotion failed or was cut short): promote it again. */
  | { kind: 'finish_promotion'; primary: string; reason: string }
  /** The primary is down and no standby may take over; `reason` says why, per node. */
  | { kind: 'no_candidate'; from: string | null; reason: string };

export interface Verdict {
  decision: Decision;
  /** Nodes out of recovery that are not the primary: fenced, never written to, to be rejoined. */
  needsRejoin: string[];
  /** Nodes of another PostgreSQL cluster (another system identifier): never adopted, promoted or fenced. */
  foreign?: string[];
}

export function decide(snapshot: ClusterSnapshot, policy: FailoverPolicy): Verdict {
  const identity = clusterIdentity(snapshot);
  const foreign = snapshot.nodes.filter((n) => n.reachable && identity !== null && n.systemId && n.systemId !== identity).map((n) => n.name);
  if (foreign.length === 0 && (!snapshot.systemId || snapshot.systemId === identity)) return decideWithin(snapshot, policy);
  // A node of another cluster (re-initialised, or another cluster on the same address) counts as
  // unreachable; a recorded state of another cluster (Redis kept it) names no primary here.
  const verdict = decideWithin(
    {
      ...snapshot,
      primary: snapshot.systemId && snapshot.systemId !== identity ? null : snapshot.primary,
      nodes: snapshot.nodes.map((n) => (foreign.includes(n.name) ? { ...n, reachable: false, inRecovery: null } : n)),
    },
    policy,
  );
  return foreign.length > 0 ? { ...verdict, foreign } : verdict;
}

/**
 * The system identifier of the cluster: the recorded one while a reachable node has it, else the
 * one most reachable nodes share (a standby shares its primary's), ties to the node of highest
 * priority; null when no node told.
 */
export function clusterIdentity(snapshot: ClusterSnapshot): string | null {
  const reachable = snapshot.nodes.filter((n) => n.reachable && n.systemId);
  if (snapshot.systemId && reachable.some((n) => n.systemId === snapshot.systemId)) return snapshot.systemId;
  const counts = new Map<string, number>();
  for (const n of reachable) counts.set(n.systemId as string, (counts.get(n.systemId as string) ?? 0) + 1);
  const ranked = [...reachable].sort((a, b) => (counts.get(b.systemId as string) ?? 0) - (counts.get(a.systemId as string) ?? 0) || b.priority - a.priority);
  return ranked[0]?.systemId ?? null;
}

function decideWithin(snapshot: ClusterSnapshot, policy: FailoverPolicy): Verdict {
  const byName = new Map(snapshot.nodes.map((n) => [n.name, n]));
  const writable = snapshot.nodes.filter((n) => n.reachable && n.inRecovery === false);
  // Of the writable nodes only those on the newest timeline can be the primary: one on an
  // older timeline was a primary before a promotion elsewhere, whatever Redis remembers.
  const newest = Math.max(...writable.map((n) => n.timeline ?? -1));
  const current = writable.filter((n) => (n.timeline ?? -1) === newest);

  if (snapshot.primary === null || !byName.has(snapshot.primary)) {
    if (current.length > 0) {
      const chosen = best(current);
      return { decision: { kind: 'adopt', primary: chosen.name }, needsRejoin: others(writable, chosen.name) };
    }
    return promoteOrRefuse(null, 'no node is a writable primary', snapshot, policy);
  }

  const primary = byName.get(snapshot.primary) as NodeHealth;
  if (primary.reachable && primary.inRecovery === false && !current.includes(primary)) {
    // The recorded primary is behind another writable node's timeline: the record is stale
    // (Redis lost or restored an older state). The node on the newest timeline is the primary.
    const chosen = best(current);
    return {
      decision: { kind: 'adopt', primary: chosen.name, reason: `${primary.name} is on timeline ${primary.timeline}, ${chosen.name} on ${chosen.timeline}` },
      needsRejoin: others(writable, chosen.name),
    };
  }
  const needsRejoin = others(writable, primary.name);
  if (primary.reachable && primary.inRecovery === false) {
    return { decision: { kind: 'healthy', primary: primary.name }, needsRejoin };
  }
  if (primary.reachable && primary.inRecovery === true) {
    // The term names it: the term moved and pg_promote failed or never ran. Finishing that
    // promotion is the way out (promote is idempotent); looking for another node is not.
    return { decision: { kind: 'finish_promotion', primary: primary.name, reason: `primary ${primary.name} is still in recovery: its promotion did not finish` }, needsRejoin };
  }
  const what = `failed ${primary.consecutiveFailures} consecutive health checks`;
  if (primary.consecutiveFailures >= policy.failureThreshold) {
    return { ...promoteOrRefuse(primary.name, `primary ${primary.name} ${what}`, snapshot, policy), needsRejoin };
  }
  return {
    decision: { kind: 'waiting', primary: primary.name, failures: primary.consecutiveFailures, reason: `primary ${primary.name} ${what} (threshold ${policy.failureThreshold})` },
    needsRejoin,
  };
}

function promoteOrRefuse(from: string | null, reason: string, snapshot: ClusterSnapshot, policy: FailoverPolicy): Verdict {
  if (!policy.autoFailover) {
    return { decision: { kind: 'no_candidate', from, reason: `${reason}; automatic failover is off` }, needsRejoin: [] };
  }
  const refusals: string[] = [];
  const candidates = snapshot.nodes.filter((n) => {
    if (n.name === from) return false;
    if (!n.reachable) refusals.push(`${n.name} unreachable`);
    else if (n.inRecovery !== true) refusals.push(`${n.name} not a standby`);
    else if (n.lagBytes === null) refusals.push(`${n.name} lag unknown (it was not replicating from the primary when last seen)`);
    else if (policy.requireSynchronous && n.synchronous !== true) {
      refusals.push(`${n.name} was not a synchronous standby when the primary was last seen (it may lack acknowledged commits)`);
    }
    else if (n.lagBytes > policy.maximumLagOnFailoverBytes) {
      refusals.push(`${n.name} lags ${n.lagBytes} bytes (> ${policy.maximumLagOnFailoverBytes})`);
    } else return true;
    return false;
  });
  if (candidates.length === 0) {
    return { decision: { kind: 'no_candidate', from, reason: `${reason}; no standby can take over: ${refusals.join(', ') || 'none configured'}` }, needsRejoin: [] };
  }
  return { decision: { kind: 'failover', from, to: best(candidates).name, reason }, needsRejoin: [] };
}

/** Highest priority; then least lag; then name, so every process picks the same node. */
function best(nodes: NodeHealth[]): NodeHealth {
  return [...nodes].sort((a, b) => b.priority - a.priority || (a.lagBytes ?? Infinity) - (b.lagBytes ?? Infinity) || a.name.localeCompare(b.name))[0];
}

function others(nodes: NodeHealth[], primary: string): string[] {
  return nodes.filter((n) => n.name !== primary).map((n) => n.name);
}
