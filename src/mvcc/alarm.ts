// The alarm table (etcd's alarm store): which members raised which alarms.
//
// Alarms are state-machine state, not member-local state: they are raised and
// cleared by committed entries, so every member's table agrees, and while a
// NOSPACE alarm is active every member refuses the same writes at apply time
// (etcd's capped applier). They are kept as MVCC meta records, one per alarm,
//
//   'm' "alarm" memberId:u64be alarm:u32be -> 0x01
//
// written in the same storage batch as the applied index, so an alarm survives
// a restart exactly when its entry does. Being under MVCC's 'm' prefix, they
// travel in snapshots (a member installing a Raft snapshot gets the leader's
// alarms) and a restore replaces them like every other MVCC record.

import { toLatin1 } from "./bytes.ts";
import { PREFIX_META } from "./codec.ts";
import type { RecordPair } from "./snapshot.ts";
import type { MvccStorage, WriteBatch } from "./storage.ts";
import type * as T from "./types.ts";

/** etcd's AlarmType numbers (etcdserverpb.AlarmType). */
export const ALARM_NONE = 0;
export const ALARM_NOSPACE = 1;

const NAME = new TextEncoder().encode("alarm");
const KEY_BYTES = 1 + NAME.length + 8 + 4;
const PRESENT = Uint8Array.of(1);

function alarmKeyPrefix(): Uint8Array {
  return Uint8Array.of(PREFIX_META, ...NAME);
}

export function alarmKey(m: T.AlarmMember): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  k.set(alarmKeyPrefix());
  const view = new DataView(k.buffer);
  view.setBigUint64(1 + NAME.length, BigInt(m.memberId));
  view.setUint32(1 + NAME.length + 8, m.alarm);
  return k;
}

function parseAlarmKey(k: Uint8Array): T.AlarmMember {
  const view = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return {
    memberId: Number(view.getBigUint64(1 + NAME.length)),
    alarm: view.getUint32(1 + NAME.length + 8),
  };
}

function compareAlarms(a: T.AlarmMember, b: T.AlarmMember): number {
  return a.memberId - b.memberId || a.alarm - b.alarm;
}

export class AlarmTable {
  private readonly active = new Map<string, T.AlarmMember>();

  static load(storage: MvccStorage): AlarmTable {
    const t = new AlarmTable();
    const start = alarmKeyPrefix();
    const end = alarmKeyPrefix();
    end[end.length - 1]++;
    for (const [k] of storage.scan(start, end)) {
      if (k.byteLength !== KEY_BYTES) continue;
      const m = parseAlarmKey(k);
      t.active.set(toLatin1(k), m);
    }
    return t;
  }

  /** Alarms of one type, or all of them for ALARM_NONE, ordered by member then type. */
  list(alarm = ALARM_NONE): T.AlarmMember[] {
    return [...this.active.values()]
      .filter((m) => alarm === ALARM_NONE || m.alarm === alarm)
      .sort(compareAlarms)
      .map((m) => ({ ...m }));
  }

  has(alarm: number): boolean {
    for (const m of this.active.values()) if (m.alarm === alarm) return true;
    return false;
  }

  /** The records of the active alarms, in key order, as snapshots and hashes carry them. */
  records(): RecordPair[] {
    return this.list().map((m) => [alarmKey(m), PRESENT]);
  }

  /**
   * Raises or clears one alarm, as etcd's applier does: raising returns the
   * alarm (already active or new), clearing returns it only if it was active,
   * and NONE is never raised.
   */
  apply(r: T.AlarmRequest, batch: WriteBatch): T.AlarmMember[] {
    const m = { memberId: r.memberId, alarm: r.alarm };
    const key = alarmKey(m);
    const name = toLatin1(key);
    if (r.action === "activate") {
      if (m.alarm === ALARM_NONE) return [];
      if (!this.active.has(name)) {
        this.active.set(name, m);
        batch.puts.push([key, PRESENT]);
      }
      return [{ ...m }];
    }
    if (!this.active.delete(name)) return [];
    batch.deletes.push(key);
    return [{ ...m }];
  }
}

/**
 * Whether a request adds data, the requests etcd's quota charges (quota.go:
 * Put, a Txn with a put in either branch, LeaseGrant); deletes, compaction and
 * revokes free space and always pass. Unlike etcd, puts inside nested txns
 * count too: they write as much as top-level ones.
 */
export function addsData(c: T.MvccCommand): boolean {
  switch (c.type) {
    case "put":
    case "leaseGrant":
      return true;
    case "txn":
      return txnPuts(c.request);
    default:
      return false;
  }
}

function txnPuts(r: T.TxnRequest): boolean {
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) {
    if ("requestPut" in op) return true;
    if ("requestTxn" in op && txnPuts(op.requestTxn)) return true;
  }
  return false;
}
