// Leases must not end early. A client that got a grant or a keepalive
// answered knows its lease lives at least its TTL from when it asked: the
// leader renewed it after the request was sent, and a new leader only extends
// leases (promote). So a lease found gone (a keepalive or a put answered
// "lease not found") before that moment, on the leader's clock, ended early:
// an expiry measured from the wrong moment or a renewal lost. Only the client
// that granted a lease revokes it, and it stops using a lease once it sends
// the revoke, so its own revokes never explain an early end.

export class LeaseCheck {
  /** Per lease: the TTL it was granted with and when the last grant or keepalive that succeeded was sent. */
  private readonly alive = new Map<number, { ttlMs: number; sentAt: number }>();

  /**
   * @param maxSkew the members' clock rates lie within 1 ± maxSkew
   * @param jumpedMs the most any member's clock has jumped forward so far
   */
  constructor(
    private readonly maxSkew: number,
    private readonly jumpedMs: () => number,
    private readonly violation: (what: string) => void,
  ) {}

  /** A grant of `ttlSec` sent at `sentAt` succeeded. */
  granted(lease: number, ttlSec: number, sentAt: number): void {
    this.alive.set(lease, { ttlMs: ttlSec * 1000, sentAt });
  }

  /** A keepalive sent at `sentAt` answered that the lease has `ttlSec` again (its granted TTL, as etcd answers). */
  keptAlive(lease: number, ttlSec: number, sentAt: number): void {
    const a = this.alive.get(lease);
    if (a === undefined) return; // granted by a request whose answer was lost
    if (ttlSec * 1000 !== a.ttlMs)
      this.violation(
        `keepalive of lease ${lease} answered a TTL of ${ttlSec}s; it was granted ${a.ttlMs / 1000}s`,
      );
    if (sentAt > a.sentAt) a.sentAt = sentAt;
  }

  /** A request that returned at `at` found the lease gone. */
  gone(lease: number, at: number, how: string): void {
    const a = this.alive.get(lease);
    if (a === undefined) return;
    // The leader's clock may run fast by maxSkew and may have jumped.
    const earliest = a.sentAt + a.ttlMs / (1 + this.maxSkew) - this.jumpedMs();
    if (at < earliest) {
      this.violation(
        `lease ${lease} ended early: renewed by a request sent at t=${a.sentAt}ms with a TTL of ${a.ttlMs / 1000}s, but ${how} at t=${at}ms (not before t=${Math.floor(earliest)}ms)`,
      );
    }
  }
}
