/**
 * At most `size` tasks at once; the others wait their turn in arrival order. A download batch
 * runs its URLs side by side, so this — not BullMQ's job concurrency — is what keeps a worker
 * process at `worker.download_concurrency` fetches in flight.
 */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async use<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight on
      else this.active--;
    }
  }
}
