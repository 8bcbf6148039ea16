import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { throttledError } from '../../src/logger';

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
