import { expect } from 'chai';
import { repointConninfo } from '../../src/ha/postgres-node';

describe('repointConninfo: a standby pointed at a new primary', () => {
  it('replaces host and port and keeps every other key as pg_basebackup -R wrote it', () => {
    const before = "user=replicator passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=127.0.0.1 port=57432 sslmode=prefer target_session_attrs=any";
    expect(repointConninfo(before, 'postgres://postgres@10.0.0.7:5433/image_crawler', 'node3')).to.equal(
      "user=replicator passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=10.0.0.7 port=5433 sslmode=prefer target_session_attrs=any application_name=node3",
    );
  });

  it('keeps an application_name and a quoted password; fills user, host and port into an empty conninfo', () => {
    expect(repointConninfo("host=a port=1 application_name=n2 password='it\\'s a pass'", 'postgres://x@b:2/db', 'n2')).to.equal("host=b port=2 application_name=n2 password='it\\'s a pass' user=x");
    expect(repointConninfo('', 'postgres://rep%40l@db.example:5432/x', 'node2')).to.equal("host=db.example port=5432 user='rep@l' application_name=node2");
  });

  it('is unchanged when it already points there (no reload needed)', () => {
    const ci = 'user=replicator host=127.0.0.1 port=6000 application_name=node3';
    expect(repointConninfo(ci, 'postgres://postgres@127.0.0.1:6000/db', 'node3')).to.equal(ci);
  });
});
