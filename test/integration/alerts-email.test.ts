import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { DiskWatch } from '../../src/alerts/disk-watch';
import { hostName } from '../../src/config/host-identity';
import { TEST_REDIS_URL, deleteRedisPrefix, testConfig } from '../support/test-env';
import { waitFor } from '../support/wait-for';

describe('alerts by e-mail: the disk of the image store', function () {
  this.timeout(30_000);
  const received: { to: string[]; text: string }[] = [];
  let smtp: SMTPServer;
  let port: number;
  let redis: Redis;

  before(async () => {
    // A real SMTP server: the message goes over the wire as it would to a mail relay.
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, done) {
        let text = '';
        stream.on('data', (d: Buffer) => (text += d.toString()));
        stream.on('end', () => {
          // The body comes quoted-printable: soft line breaks and =XX escapes.
          const decoded = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
          received.push({ to: session.envelope.rcptTo.map((r) => r.address), text: decoded });
          done();
        });
      },
    });
    smtp.listen(0, '127.0.0.1');
    await once(smtp.server, 'listening');
    port = (smtp.server.address() as AddressInfo).port;
    redis = new Redis(TEST_REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  });

  it('mails disk_space once per cooldown when the store is fuller than the threshold; not below it', async () => {
    const alerts = (threshold: number) => ({ email: { smtp_url: `smtp://127.0.0.1:${port}`, from: 'crawler@example.test', to: ['ops@example.test'] }, disk_space: { threshold_percent: threshold } });
    const full = testConfig({ alerts: alerts(1) }); // any disk in use is over 1 %
    try {
      const watch = new DiskWatch(full, redis);
      const sent = await watch.check();
      expect(sent.map((a) => [a.kind, a.node])).to.deep.equal([['disk_space', hostName(full)]]);
      const mail = await waitFor('the alert e-mail arrives', () => received[0], 10_000);
      expect(mail.to).to.deep.equal(['ops@example.test']);
      expect(mail.text).to.contain(`Subject: [image-crawler] disk_space: ${hostName(full)}`);
      expect(mail.text).to.match(/image store \(.+\) is [\d.]+ % full \(alert at 1 %\)/);
      expect(await watch.check(), 'within the cooldown').to.deep.equal([]);
      expect(received).to.have.length(1);

      const roomy = testConfig({ alerts: alerts(100) });
      expect(await new DiskWatch(roomy, redis).check()).to.deep.equal([]);
      await deleteRedisPrefix(roomy.redis.prefix);
    } finally {
      await deleteRedisPrefix(full.redis.prefix);
    }
  });
});
