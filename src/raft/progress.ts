// What the leader knows about each follower's log, and how fast it may send.

import { assert } from "./errors.ts";

export enum ProgressState {
  /** Send one append per heartbeat interval until the match point is found. */
  Probe = "Probe",
  /** Stream appends optimistically, bounded by the inflight window. */
  Replicate = "Replicate",
  /** A snapshot is on its way; send nothing until it is reported. */
  Snapshot = "Snapshot",
}

/**
 * A bounded window of in-flight append messages, identified by the last index
 * each carried. Bounds both count and bytes, so a slow follower never makes the
 * leader buffer without limit.
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;
  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {
    assert(maxMsgs > 0, `maxInflightMsgs must be > 0, got ${maxMsgs}`);
  }
  add(lastIndex: number, sizeBytes: number): void {
    assert(!this.full(), "inflights: add to a full window");
    this.lastIndexes.push(lastIndex);
    this.sizes.push(sizeBytes);
    this.bytes += sizeBytes;
  }
  /** Frees every message whose last index is <= `index` (it was acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n] <= index) {
      this.bytes -= this.sizes[n];
      n++;
    }
    if (n > 0) {
      this.lastIndexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }
  freeFirstOne(): void {
    if (this.lastIndexes.length > 0) this.freeLE(this.lastIndexes[0]);
  }
  full(): boolean {
    return this.lastIndexes.length >= this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }
  count(): number {
    return this.lastIndexes.length;
  }
  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  /** Highest index known to be replicated on the follower. Invariant: match < next. */
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Whether we heard from the follower within the current election timeout (check-quorum). */
  recentActive = false;
  /** In Probe state: an append was sent and no answer came yet. */
  probeSent = false;
  /** Leader tick at which the latest heartbeat this follower acknowledged was sent (leader lease). */
  leaseAckTick = -1;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, inflights: Inflights, isLearner: boolean) {
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgement of `n`. Returns whether `match` advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** In Replicate state the leader assumes the append will succeed. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * Handles a rejected append of index `rejected`; `matchHint` is the
   * follower's suggestion of where the logs may match. Returns false when the
   * rejection is stale (out of order) and was ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  toString(): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? " learner" : ""}`;
  }
}
