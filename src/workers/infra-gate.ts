/**
 * A circuit breaker in front of every crawl and download job of a process. When the database,
 * Redis or the content store fails, the jobs that follow would each fetch their URL again only
 * to fail at the same place — hammering the sites for nothing (a full disk made every image be
 * downloaded dozens of times). After a failure the gate closes: jobs are postponed without
 * fetching. Once the cooldown is over, one job at a time goes through as a probe; its success
 * opens the gate, its failure closes it again for twice as long (up to `maxCooldownMs`).
 *
 * Pure state, the clock is passed in: tested without any infrastructure.
 */
export class InfraGate {
  private failures = 0;
  private closedUntil = 0;
  private cooldownMs: number;
  private probing = false;
  private lastReason = '';

  /**
   * @param minCooldownMs first cooldown after a failure. Default 1000.
   * @param maxCooldownMs longest cooldown. Default 5000, one health-check interval.
   */
  constructor(
    private readonly minCooldownMs = 1000,
    private readonly maxCooldownMs = 5000,
  ) {
    this.cooldownMs = minCooldownMs;
  }

  /**
   * Whether a job may do its work now. A `true` must be answered by exactly one `succeeded()`
   * or `failed()` (a probe that never reports would keep the gate shut).
   */
  tryPass(now: number): boolean {
    if (this.failures === 0) return true;
    if (now < this.closedUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** The infrastructure answered (the job's outcome itself does not matter); true when that opened the gate. */
  succeeded(): boolean {
    const reopened = this.failures > 0;
    this.failures = 0;
    this.cooldownMs = this.minCooldownMs;
    this.probing = false;
    return reopened;
  }

  /** The infrastructure failed; true when that closed an open gate. */
  failed(now: number, reason: string): boolean {
    const closed = this.failures === 0;
    this.failures++;
    this.lastReason = reason;
    this.closedUntil = Math.max(this.closedUntil, now + this.cooldownMs);
    this.cooldownMs = Math.min(this.cooldownMs * 2, this.maxCooldownMs);
    this.probing = false;
    return closed;
  }

  /** Something changed that may have mended the failure (a new primary): probe at once. */
  retryNow(): void {
    this.closedUntil = 0;
    this.cooldownMs = this.minCooldownMs;
  }

  /** How long until a probe may go (0 when open), and why the gate is shut. */
  state(now: number): { open: boolean; waitMs: number; reason: string } {
    return { open: this.failures === 0, waitMs: Math.max(0, this.closedUntil - now), reason: this.lastReason };
  }
}
