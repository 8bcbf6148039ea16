import { expect } from 'chai';
import { hasForked, lsnToBigInt, parseTimelineHistory } from '../../src/ha/timeline';

describe('timelines: has a standby forked off the primary?', () => {
  // node2 was promoted at 0/5000000 (timeline 1 → 2), later node3 at 0/9000000 (2 → 3).
  const history = parseTimelineHistory('1\t0/5000000\tno recovery target specified\n\n2\t0/9000000\tno recovery target specified\n');

  it('parses a history file and WAL positions', () => {
    expect(history).to.deep.equal([
      { tli: 1, switchpoint: 0x5000000n },
      { tli: 2, switchpoint: 0x9000000n },
    ]);
    expect(lsnToBigInt('16/B374D848')).to.equal((0x16n << 32n) + 0xb374d848n);
    expect(() => lsnToBigInt('16-B3')).to.throw(/not a WAL position/);
    expect(() => parseTimelineHistory('x\t0/1\n')).to.throw(/not a timeline history line/);
  });

  it('a standby on the primary timeline, or behind the switchpoint of its own, can follow', () => {
    expect(hasForked({ timeline: 3, replayLsn: '0/F000000' }, 3, history)).to.equal(false);
    expect(hasForked({ timeline: 1, replayLsn: '0/4FFFFFF' }, 3, history)).to.equal(false);
    expect(hasForked({ timeline: 1, replayLsn: '0/5000000' }, 3, history)).to.equal(false);
    expect(hasForked({ timeline: 2, replayLsn: '0/8000000' }, 3, history)).to.equal(false);
  });

  it('a standby that replayed past where its timeline ended, or on a branch the primary never had, has forked', () => {
    expect(hasForked({ timeline: 1, replayLsn: '0/5000001' }, 3, history)).to.equal(true);
    expect(hasForked({ timeline: 2, replayLsn: '1/0' }, 3, history)).to.equal(true);
    expect(hasForked({ timeline: 4, replayLsn: '0/1' }, 3, history)).to.equal(true);
    expect(hasForked({ timeline: 1, replayLsn: '0/1' }, 2, [])).to.equal(true);
  });
});
