/**
 * Group commit: callers hand over one row each and wait; rows that arrive while a write is in
 * flight go to the database together in the next multi-row statement. Under light load a row
 * is written at once (no timer adds latency); under heavy load batches grow by themselves. A
 * caller's promise resolves only after its row is committed, so a job is never acknowledged
 * before its row is durable — batching without losing anything acknowledged.
 */
export class BatchWriter<T, R = void> {
  private queue: { row: T; resolve: (result: R) => void; reject: (err: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  /**
   * @param write         writes one batch (a multi-row statement); may return one result per row, in order
   * @param maxBatch      rows per statement at most. Default 500.
   * @param maxConcurrent statements in flight at once. Default 1: batches grow while one is written.
   */
  constructor(
    private readonly write: (rows: T[]) => Promise<R[] | void>,
    private readonly maxBatch = 500,
    private readonly maxConcurrent = 1,
  ) {}

  add(row: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything handed over so far is written (or has failed). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxConcurrent || this.queue.length === 0) return;
    this.scheduled = true;
    // Let the rows of this tick join the batch before it leaves.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.write(batch.map((b) => b.row))
        .then(
          (results) => batch.forEach((b, i) => b.resolve((results ? results[i] : undefined) as R)),
          (err) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          if (this.queue.length > 0) this.schedule();
          else if (this.inFlight === 0) this.idle.splice(0).forEach((r) => r());
        });
    }
  }
}
