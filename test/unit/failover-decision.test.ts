import { expect } from 'chai';
import { ClusterSnapshot, FailoverPolicy, NodeHealth, decide } from '../../src/ha/failover-decision';
import { desiredSyncSettings } from '../../src/ha/sync-replication';
import { evaluateAlerts, evaluateDiskAlert } from '../../src/alerts/alerts';
import { validateConfig } from '../../src/config/load-config';

const policy: FailoverPolicy = { failureThreshold: 3, autoFailover: true, maximumLagOnFailoverBytes: 1_000_000 };

const up = (name: string, inRecovery: boolean, o: Partial<NodeHealth> = {}): NodeHealth => ({
  name,
  priority: 100,
  reachable: true,
  consecutiveFailures: 0,
  inRecovery,
  lagBytes: inRecovery ? 0 : null,
  ...o,
});
const down = (name: string, failures: number, o: Partial<NodeHealth> = {}): NodeHealth => ({
  name,
  priority: 100,
  reachable: false,
  consecutiveFailures: failures,
  inRecovery: null,
  lagBytes: null,
  ...o,
});
const snap = (primary: string | null, ...nodes: NodeHealth[]): ClusterSnapshot => ({ term: 1, primary, nodes });

describe('failover decision', () => {
  it('keeps a healthy primary', () => {
    expect(decide(snap('a', up('a', false), up('b', true)), policy)).to.deep.equal({ decision: { kind: 'healthy', primary: 'a' }, needsRejoin: [] });
  });

  it('keeps the primary when only a standby is down', () => {
    expect(decide(snap('a', up('a', false), down('b', 9)), policy).decision.kind).to.equal('healthy');
  });

  it('never promotes a standby whose lag is unknown (it was not replicating when the primary was last seen)', () => {
    const v = decide(snap('a', down('a', 3), up('b', true, { lagBytes: null })), policy);
    expect(v.decision).to.deep.include({ kind: 'no_candidate', from: 'a' });
    expect((v.decision as { reason: string }).reason).to.contain('b lag unknown');
  });

  it('in sync modes promotes only a standby that was synchronous when the primary was last seen', () => {
    const syncPolicy = { ...policy, requireSynchronous: true };
    const dropped = decide(snap('a', down('a', 3), up('b', true, { lagBytes: 100, synchronous: false })), syncPolicy);
    expect(dropped.decision).to.deep.include({ kind: 'no_candidate', from: 'a' });
    expect((dropped.decision as { reason: string }).reason).to.contain('b was not a synchronous standby when the primary was last seen');
    expect(decide(snap('a', down('a', 3), up('b', true, { synchronous: true })), syncPolicy).decision).to.deep.include({ kind: 'failover', to: 'b' });
    // async mode promises no such thing: the lag bound is all.
    expect(decide(snap('a', down('a', 3), up('b', true, { lagBytes: 100, synchronous: false })), policy).decision).to.deep.include({ kind: 'failover', to: 'b' });
  });

  it('waits while the primary has failed fewer checks than the threshold', () => {
    const v = decide(snap('a', down('a', 2), up('b', true)), policy);
    expect(v.decision).to.deep.include({ kind: 'waiting', primary: 'a', failures: 2 });
  });

  it('fails over at the threshold to the standby', () => {
    const v = decide(snap('a', down('a', 3), up('b', true)), policy);
    expect(v.decision).to.deep.equal({ kind: 'failover', from: 'a', to: 'b', reason: 'primary a failed 3 consecutive health checks' });
  });

  it('chooses by priority, then by least lag, then by name', () => {
    expect((decide(snap('a', down('a', 3), up('b', true, { priority: 50 }), up('c', true, { priority: 90 })), policy).decision as { to: string }).to).to.equal('c');
    expect((decide(snap('a', down('a', 3), up('b', true, { lagBytes: 500 }), up('c', true, { lagBytes: 10 })), policy).decision as { to: string }).to).to.equal('c');
    expect((decide(snap('a', down('a', 3), up('c', true), up('b', true)), policy).decision as { to: string }).to).to.equal('b');
  });

  it('does not promote a standby that lags too much, and says so', () => {
    const v = decide(snap('a', down('a', 3), up('b', true, { lagBytes: 5_000_000 })), policy);
    expect(v.decision.kind).to.equal('no_candidate');
    expect((v.decision as { reason: string }).reason).to.match(/b lags 5000000 bytes \(> 1000000\)/);
  });

  it('skips unreachable standbys and nodes that are not standbys', () => {
    const v = decide(snap('a', down('a', 5), down('b', 5), up('c', true, { lagBytes: 2_000_000 }), up('d', true)), policy);
    expect(v.decision).to.deep.include({ kind: 'failover', to: 'd' });
    const none = decide(snap('a', down('a', 5), down('b', 5)), policy);
    expect((none.decision as { reason: string }).reason).to.match(/b unreachable/);
  });

  it('refuses to fail over when automatic failover is off', () => {
    const v = decide(snap('a', down('a', 9), up('b', true)), { ...policy, autoFailover: false });
    expect(v.decision.kind).to.equal('no_candidate');
    expect((v.decision as { reason: string }).reason).to.match(/automatic failover is off/);
  });

  it('finishes the promotion of a recorded primary still in recovery (pg_promote failed after the term moved)', () => {
    const v = decide({ term: 2, primary: 'b', nodes: [up('a', false), up('b', true)] }, policy);
    expect(v.decision).to.deep.include({ kind: 'finish_promotion', primary: 'b' });
    expect(v.needsRejoin).to.deep.equal(['a']);
    expect(decide(snap('a', up('a', true), up('b', true)), policy).decision).to.deep.include({ kind: 'finish_promotion', primary: 'a' });
  });

  it('reports a former primary that came back writable as needing rejoin (fenced)', () => {
    const v = decide({ term: 2, primary: 'b', nodes: [up('a', false), up('b', false)] }, policy);
    expect(v).to.deep.equal({ decision: { kind: 'healthy', primary: 'b' }, needsRejoin: ['a'] });
  });

  it('adopts the writable node on the newest timeline, whatever the priority: the other is a former primary', () => {
    const v = decide(snap(null, up('a', false, { priority: 100, timeline: 1 }), up('b', false, { priority: 10, timeline: 2 })), policy);
    expect(v).to.deep.equal({ decision: { kind: 'adopt', primary: 'b' }, needsRejoin: ['a'] });
  });

  it('leaves a recorded primary that is behind another writable node’s timeline (a stale record in Redis)', () => {
    const v = decide(snap('a', up('a', false, { timeline: 1 }), up('b', false, { timeline: 2 })), policy);
    expect(v.decision).to.deep.include({ kind: 'adopt', primary: 'b' });
    expect(v.needsRejoin).to.deep.equal(['a']);
    expect(decide(snap('b', up('a', false, { timeline: 1 }), up('b', false, { timeline: 2 })), policy)).to.deep.equal({
      decision: { kind: 'healthy', primary: 'b' },
      needsRejoin: ['a'],
    });
  });

  it('refuses a node of another cluster (another system identifier), whatever its role', () => {
    const v = decide(
      { term: 1, primary: 'a', systemId: 'X', nodes: [down('a', 3, { systemId: 'X' }), up('b', true, { systemId: 'Y' }), up('c', true, { systemId: 'X' })] },
      policy,
    );
    expect(v.foreign).to.deep.equal(['b']);
    expect(v.decision).to.deep.include({ kind: 'failover', from: 'a', to: 'c' });
  });

  it('ignores a recorded state of another cluster (Redis kept it): the nodes here decide', () => {
    // An earlier cluster on these addresses failed over to b; this cluster's b is a standby.
    const v = decide({ term: 2, primary: 'b', systemId: 'OLD', nodes: [up('a', false, { systemId: 'NEW' }), up('b', true, { systemId: 'NEW' })] }, policy);
    expect(v.decision).to.deep.equal({ kind: 'adopt', primary: 'a' });
    expect(v.foreign).to.equal(undefined);
  });

  it('adopts the writable node before the first check, preferring priority', () => {
    expect(decide(snap(null, up('a', false), up('b', true)), policy).decision).to.deep.equal({ kind: 'adopt', primary: 'a' });
    const two = decide(snap(null, up('a', false, { priority: 10 }), up('b', false, { priority: 20 })), policy);
    expect(two).to.deep.equal({ decision: { kind: 'adopt', primary: 'b' }, needsRejoin: ['a'] });
  });

  it('promotes a standby when there is no writable node at all and none recorded', () => {
    expect(decide(snap(null, down('a', 1), up('b', true)), policy).decision).to.deep.include({ kind: 'failover', from: null, to: 'b' });
  });
});

describe('synchronous replication settings', () => {
  it('async mode never waits for a standby', () => {
    expect(desiredSyncSettings('async', ['node2'])).to.deep.equal({ synchronousStandbyNames: '', synchronousCommit: 'on' });
  });

  it('sync waits for any one healthy standby to apply; semi-sync to receive', () => {
    expect(desiredSyncSettings('sync', ['node3', 'node2'])).to.deep.equal({ synchronousStandbyNames: 'ANY 1 ("node2", "node3")', synchronousCommit: 'remote_apply' });
    expect(desiredSyncSettings('semi-sync', ['node2'])).to.deep.equal({ synchronousStandbyNames: 'ANY 1 ("node2")', synchronousCommit: 'remote_write' });
  });

  it('degrades to async when no standby is healthy, so writes never hang', () => {
    expect(desiredSyncSettings('sync', [])).to.deep.equal({ synchronousStandbyNames: '', synchronousCommit: 'local' });
  });
});

describe('alerts', () => {
  const rules = validateConfig({}).alerts;
  const node = (o: object) => ({ name: 'n', priority: 1, reachable: true, consecutiveFailures: 0, inRecovery: true, lagBytes: 0, lagSeconds: 0, responseMs: 1, lastError: null, checkedAt: null, ...o });

  it('raises database_down at the threshold and replication_lag past it, unless disabled', () => {
    const view = { term: 1, primary: 'p', systemId: null, leader: null, nodes: [node({ name: 'p', inRecovery: false, consecutiveFailures: 3, lastError: 'timeout' }), node({ name: 's', lagSeconds: 90 })] };
    expect(evaluateAlerts(view, rules).map((a) => [a.kind, a.node])).to.deep.equal([
      ['database_down', 'p'],
      ['replication_lag', 's'],
    ]);
    expect(evaluateAlerts(view, { ...rules, database_down: { ...rules.database_down, enabled: false }, replication_lag: { ...rules.replication_lag, threshold_s: 120 } })).to.deep.equal([]);
  });

  it('raises disk_space for a store fuller than the threshold (SPEC: 85 %)', () => {
    expect(evaluateDiskAlert(0.84, 'host-a', '/data', rules)).to.equal(null);
    expect(evaluateDiskAlert(0.9, 'host-a', '/data', rules)).to.deep.include({ kind: 'disk_space', node: 'host-a', cooldownS: 1800 });
    expect(evaluateDiskAlert(0.9, 'host-a', '/data', rules)?.message).to.equal("the disk of host-a's image store (/data) is 90.0 % full (alert at 85 %)");
    expect(evaluateDiskAlert(0.99, 'host-a', '/data', { ...rules, disk_space: { ...rules.disk_space, enabled: false } })).to.equal(null);
  });
});
