/**
 * Group commit: callers hand over one row each and wait; rows arriving within `maxDelayMs` of
 * each other go to the database in one multi-row statement. A caller's promise resolves only
 * after its row is committed, so a job is never acknowledged before its row is durable —
 * batching without losing anything acknowledged.
 */
export class BatchWriter<T> {
  private queue: { row: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly maxBatch = 200,
    private readonly maxDelayMs = 10,
  ) {}

  add(row: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.maxDelayMs);
    });
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const p = this.write(batch.map((b) => b.row)).then(
      () => batch.forEach((b) => b.resolve()),
      (err) => batch.forEach((b) => b.reject(err)),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Flushes and waits for every write in flight. */
  async drain(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }
}
