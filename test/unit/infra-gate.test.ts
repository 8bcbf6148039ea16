import { expect } from 'chai';
import { InfraGate } from '../../src/workers/infra-gate';

describe('infrastructure gate (circuit breaker for jobs)', () => {
  it('lets every job through while nothing fails', () => {
    const gate = new InfraGate(1000, 8000);
    for (let t = 0; t < 10; t++) expect(gate.tryPass(t)).to.equal(true);
    expect(gate.state(10)).to.deep.include({ open: true, waitMs: 0 });
  });

  it('after a failure holds every job for the cooldown, then lets one probe through at a time', () => {
    const gate = new InfraGate(1000, 8000);
    gate.failed(0, 'ENOSPC: no space left on device');
    expect(gate.state(0)).to.deep.equal({ open: false, waitMs: 1000, reason: 'ENOSPC: no space left on device' });
    expect(gate.tryPass(500)).to.equal(false);
    expect(gate.tryPass(1000)).to.equal(true); // the probe
    expect(gate.tryPass(1001)).to.equal(false); // others wait for its answer
    expect(gate.succeeded()).to.equal(true); // reopened
    expect(gate.tryPass(1002)).to.equal(true);
    expect(gate.succeeded()).to.equal(false); // already open
  });

  it('doubles the cooldown after each failed probe, up to the maximum, and resets on success', () => {
    const gate = new InfraGate(1000, 8000);
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      gate.failed(now, 'database down');
      waits.push(gate.state(now).waitMs);
      now += gate.state(now).waitMs;
      expect(gate.tryPass(now)).to.equal(true);
    }
    expect(waits).to.deep.equal([1000, 2000, 4000, 8000, 8000, 8000]);
    gate.succeeded();
    gate.failed(now, 'again');
    expect(gate.state(now).waitMs).to.equal(1000);
  });

  it('failures of jobs already under way extend the hold, never shorten it', () => {
    const gate = new InfraGate(1000, 8000);
    gate.failed(0, 'a'); // closed until 1000, next cooldown 2000
    gate.failed(100, 'b'); // closed until 2100
    expect(gate.tryPass(1500)).to.equal(false);
    expect(gate.tryPass(2100)).to.equal(true);
  });

  it('probes at once when told something changed (a new primary), with the shortest cooldown after', () => {
    const gate = new InfraGate(1000, 8000);
    gate.failed(0, 'primary gone');
    gate.failed(0, 'primary gone'); // closed until 2000, next cooldown 4000
    gate.retryNow();
    expect(gate.tryPass(10)).to.equal(true);
    gate.failed(10, 'not yet');
    expect(gate.state(10).waitMs).to.equal(1000);
  });
});
