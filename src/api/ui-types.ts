// What the dashboard's event stream (/ui/api/events, ui.ts) sends, shared
// with the page (ui/src/), which is compiled for the browser: no imports here.

/** One member in a sample: its report's state and the rates since the previous sample. */
export interface MemberSample {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: string[];
  readonly peerUrls: string[];
  readonly up: boolean;
  /** Why the member could not be read, or its newest alarm. */
  readonly error: string;
  readonly role: "leader" | "follower" | "learner" | "unknown";
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  /** The leader's commit index minus this member's applied index. */
  readonly lag: number;
  readonly dbSize: number;
  readonly keys: number;
  readonly leaderChanges: number;
  readonly watchers: number;
  readonly rates: {
    readonly writes: number;
    readonly reads: number;
    readonly committed: number;
    readonly failed: number;
    readonly watchEvents: number;
    /** CPU of the member's process, in percent of one core. */
    readonly cpu: number;
  };
  /** Latencies over the last interval, in milliseconds (NaN: nothing happened). */
  readonly latency: {
    readonly p50: number;
    readonly p99: number;
    readonly fsyncP99: number;
  };
}

export interface Sample {
  readonly time: number;
  readonly servedBy: string;
  /** Whether the cluster has auth enabled (the page then asks for a login before reading keys). */
  readonly authEnabled: boolean;
  readonly members: MemberSample[];
}
