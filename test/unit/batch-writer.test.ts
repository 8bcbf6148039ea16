import { expect } from 'chai';
import { BatchWriter } from '../../src/db/batch-writer';

describe('batch writer (group commit)', () => {
  it('acknowledges a row only after the statement holding it has completed', async () => {
    const written: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = new BatchWriter<number>(async (rows) => {
      await gate;
      written.push(rows);
    }, 500, 1);
    let acked = false;
    const p = w.add(1).then(() => (acked = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(acked).to.equal(false);
    release();
    await p;
    expect(acked).to.equal(true);
    expect(written).to.deep.equal([[1]]);
  });

  it('batches rows that arrive while a write is in flight', async () => {
    const sizes: number[] = [];
    const w = new BatchWriter<number>(async (rows) => {
      sizes.push(rows.length);
      await new Promise((r) => setTimeout(r, 10));
    }, 500, 1);
    await Promise.all(Array.from({ length: 300 }, (_, i) => w.add(i)));
    expect(sizes.reduce((a, b) => a + b, 0)).to.equal(300);
    expect(sizes.length).to.be.lessThan(10);
  });

  it('fails every caller of a failed statement, and keeps working afterwards', async () => {
    let fail = true;
    const w = new BatchWriter<number>(async () => {
      if (fail) throw new Error('database down');
    });
    const results = await Promise.allSettled([w.add(1), w.add(2)]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    fail = false;
    await w.add(3);
    await w.drain();
  });
});
