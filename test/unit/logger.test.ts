import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { getLogger, logToFiles, throttledError } from '../../src/logger';

/** The JSON lines a logger wrote. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, next) {
      lines.push(JSON.parse(String(chunk)));
      next();
    },
  });
  return { lines, log: winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }) };
}

describe('throttled error logging (an outage without a log flood)', () => {
  it('logs the first error, then at most one per window with how many were left out', async () => {
    const capture = capturingLogger();
    const log = capture.log;
    const report = throttledError(log, 'worker error', 40);
    for (let i = 0; i < 500; i++) report(new Error('connect ECONNREFUSED'), { queue: 'download' });
    expect(capture.lines).to.have.length(1);
    expect(capture.lines[0]).to.deep.include({ message: 'worker error', error: 'connect ECONNREFUSED', queue: 'download' });
    const deadline = Date.now() + 5000;
    let calls = 0;
    while (capture.lines.length < 2) {
      expect(Date.now(), 'a second line within 5 s of repeated errors').to.be.below(deadline);
      report(new Error('connect ECONNREFUSED'));
      calls++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(capture.lines[1].repeated).to.equal(499 + calls - 1);
  });
});

describe('log files (logging.dir)', () => {
  it('sends HA, crawler and system lines to ha.log, crawler.log and system.log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-crawler-logs-'));
    try {
      logToFiles(dir, 1, 2);
      getLogger('ha').error('failover decided', { n: 1 });
      getLogger('jobs').error('job failed', { n: 2 });
      getLogger('api').error('request failed', { n: 3 });
      const read = (name: string) => (fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'utf8') : '');
      const deadline = Date.now() + 5000;
      while (!(read('ha.log') && read('crawler.log') && read('system.log'))) {
        expect(Date.now(), 'all three log files written within 5 s').to.be.below(deadline);
        await new Promise((r) => setTimeout(r, 20));
      }
      const lines = (name: string) => read(name).trim().split('\n').map((l) => JSON.parse(l).message);
      expect(lines('ha.log')).to.deep.equal(['failover decided']);
      expect(lines('crawler.log')).to.deep.equal(['job failed']);
      expect(lines('system.log')).to.deep.equal(['request failed']);
    } finally {
      logToFiles(undefined, 1, 1);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
