// etcd's Prometheus metric families, so dashboards and alerts written for
// etcd work on floe unchanged: server (version, leader, proposals), disk
// (WAL fsync and backend commit latency), MVCC database size, and gRPC
// calls handled (in api/metrics.ts). Gauges are read from the member when /metrics is scraped;
// the histograms are fed by the WAL's and bitcask's timing hooks.

import { Counter, Gauge, type Registry } from "prom-client";
import { FastHistogram } from "../api/index.ts";

/** etcd's disk latency buckets: 1 ms to ~8 s, doubling. */
const DISK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

export interface MemberView {
  version: string;
  leader(): number;
  memberId: number;
  committedIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  failedProposals(): number;
  dbSizeBytes(): number;
  dbSizeInUseBytes(): number;
  keys(): number;
  watchers(): number;
  watchEventsDelivered(): number;
}

export class ServerMetrics {
  readonly walFsyncSeconds: FastHistogram;
  readonly backendCommitSeconds: FastHistogram;
  private readonly leaderChanges: Counter;
  private lastLeader = 0;
  /** The member the gauges read at scrape time; until attached, they report nothing. */
  private view: MemberView | undefined;

  /** Gives the gauges their member (its runtime exists only after the storage these metrics time). */
  attach(view: MemberView): void {
    this.view = view;
  }

  constructor(registry: Registry) {
    const view = () => this.view;
    const gauge = (
      name: string,
      help: string,
      read: (v: MemberView) => number,
      labels?: Record<string, string>,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: labels === undefined ? [] : Object.keys(labels),
        registers: [registry],
        collect() {
          const v = view();
          if (v === undefined) return;
          if (labels === undefined) this.set(read(v));
          else this.set(labels, read(v));
        },
      });
    gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", (v) =>
      v.leader() === 0 ? 0 : 1,
    );
    gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", (v) =>
      v.leader() === v.memberId && v.memberId !== 0 ? 1 : 0,
    );
    gauge(
      "etcd_server_proposals_committed_total",
      "The total number of consensus proposals committed.",
      (v) => v.committedIndex(),
    );
    gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.", (v) =>
      v.appliedIndex(),
    );
    gauge("etcd_server_proposals_pending", "The current number of pending proposals to commit.", (v) =>
      v.pendingProposals(),
    );
    gauge("etcd_server_proposals_failed_total", "The total number of failed proposals seen.", (v) =>
      v.failedProposals(),
    );
    gauge(
      "etcd_mvcc_db_total_size_in_bytes",
      "Total size of the underlying database physically allocated in bytes.",
      (v) => v.dbSizeBytes(),
    );
    gauge(
      "etcd_mvcc_db_total_size_in_use_in_bytes",
      "Total size of the underlying database logically in use in bytes.",
      (v) => v.dbSizeInUseBytes(),
    );
    gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", (v) => v.keys());
    gauge("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", (v) => v.watchers());
    // a counter read from the hub at scrape time: a gauge type in prom-client, a counter by name
    gauge("etcd_debugging_mvcc_events_total", "Total number of events sent by this member.", (v) =>
      v.watchEventsDelivered(),
    );
    new Gauge({
      name: "etcd_server_version",
      help: "Which version is running. 1 for 'server_version' label with current version.",
      labelNames: ["server_version"],
      registers: [registry],
      collect() {
        const v = view();
        if (v !== undefined) this.set({ server_version: v.version }, 1);
      },
    });
    this.leaderChanges = new Counter({
      name: "etcd_server_leader_changes_seen_total",
      help: "The number of leader changes seen.",
      registers: [registry],
    });
    this.walFsyncSeconds = new FastHistogram(
      "etcd_disk_wal_fsync_duration_seconds",
      "The latency distributions of fsync called by WAL.",
      DISK_BUCKETS,
      [],
      registry,
    );
    this.backendCommitSeconds = new FastHistogram(
      "etcd_disk_backend_commit_duration_seconds",
      "The latency distributions of commit called by backend.",
      DISK_BUCKETS,
      [],
      registry,
    );
  }

  /** Called with every leader the member learns of (0: none). */
  observeLeader(lead: number): void {
    if (lead !== 0 && lead !== this.lastLeader) this.leaderChanges.inc();
    this.lastLeader = lead;
  }
}
