import { expect } from 'chai';
import { decide, deletedOnOld, sameContent } from '../../src/consistency/rescue-rules';

describe('rescue rules (conflicts between an old and a new primary)', () => {
  const row = (o: object) => ({ id: 1, session_id: 's', url: 'u', status: 'pending', updated_at: '2026-01-01T00:00:00Z', created_at: '2026-01-01T00:00:00Z', ...o });

  it('inserts what the new primary lacks and keeps what it has identically (ids aside)', () => {
    expect(decide('images', row({}), undefined)).to.equal('insert');
    expect(decide('images', row({ id: 5 }), row({ id: 9 }))).to.equal('keep');
    expect(sameContent(row({ id: 5 }), row({ id: 9, width: 3 }))).to.equal(false);
  });

  it('lets the version further along win, then the later one; a tie keeps the new primary', () => {
    expect(decide('images', row({ status: 'stored' }), row({ status: 'pending' }))).to.equal('update');
    expect(decide('images', row({ status: 'failed' }), row({ status: 'stored' }))).to.equal('keep');
    expect(decide('crawl_sessions', row({ status: 'completed' }), row({ status: 'running' }))).to.equal('update');
    expect(decide('pages', row({ status: 'crawled', updated_at: '2026-01-02T00:00:00Z' }), row({ status: 'failed' }))).to.equal('update');
    expect(decide('pages', row({ status: 'crawled', error: 'x' }), row({ status: 'failed', updated_at: '2026-01-02T00:00:00Z' }))).to.equal('keep');
    expect(decide('images', row({ width: 1 }), row({ width: 2 }))).to.equal('keep');
    expect(decide('failover_events', row({ reason: 'a' }), row({ reason: 'b' }))).to.equal('keep');
  });

  it('deletes only rows that existed before the divergence, in tables the application deletes from', () => {
    const at = new Date('2026-06-01T00:00:00Z');
    expect(deletedOnOld(row({ created_at: '2026-05-01T00:00:00Z' }), at, true)).to.equal(true);
    expect(deletedOnOld(row({ created_at: '2026-07-01T00:00:00Z' }), at, true)).to.equal(false);
    expect(deletedOnOld(row({ created_at: '2026-05-01T00:00:00Z' }), at, false)).to.equal(false);
    expect(deletedOnOld(row({ created_at: '2026-05-01T00:00:00Z' }), null, true)).to.equal(false);
  });
});
