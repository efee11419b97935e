// The MVCC state laid out as etcd 3.4's backend lays out its bbolt database,
// so a floe snapshot is a file etcd's tools read (`etcdctl snapshot status`,
// `etcdctl snapshot restore`), and back again.
//
// Buckets written (the bbolt file itself is bbolt/'s business):
//   "key"    revision (8-byte BE main, '_', 8-byte BE sub, 't' for a tombstone)
//            -> mvccpb.KeyValue (a tombstone carries only its key, as etcd's)
//   "meta"   "consistent_index" -> 8-byte BE applied index;
//            "finishedCompactRev", "scheduledCompactRev" -> revision bytes
//   "lease"  8-byte BE lease id -> leasepb.Lease{ID, TTL}
//   "auth"   "authEnabled" -> 0|1, "authRevision" -> 8-byte BE
//   "authUsers" name -> authpb.User, "authRoles" name -> authpb.Role
//   "alarm", "cluster", "members", "members_removed": as etcd creates them
//   "floe"   floe's own records that etcd has no place for (the meta state
//            with the applied term, the auth store with its password hashes,
//            alarms, the member table), byte for byte, so floe -> file -> floe
//            loses nothing. etcd ignores a bucket it does not know.
//
// Reading a file etcd wrote, the "floe" bucket is absent: the key space,
// leases, compaction point and applied index come from etcd's buckets, and
// users and roles too (floe checks etcd's bcrypt password hashes as they are).

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AuthState } from "../auth/index.ts";
import {
  AUTH_KEY,
  decodeLease,
  decodeRecord,
  decodeState,
  encodeLease,
  encodePut,
  encodeState,
  encodeTombstone,
  INITIAL_STATE,
  leaseKey,
  type MetaState,
  PREFIX_LEASE,
  PREFIX_REV,
  parseLeaseKey,
  parseRevKey,
  revKey,
  STATE_KEY,
} from "./codec.ts";
import { MvccError } from "./errors.ts";
import type { RecordPair } from "./snapshot.ts";

export interface EtcdBucket {
  name: Uint8Array;
  entries: Array<[Uint8Array, Uint8Array]>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const FLOE_BUCKET = "floe";

// ---- a few protobuf messages at the wire level (field numbers from etcd's
// .proto files; MVCC does not depend on the API's generated code)

/** A message writer that leaves out zero and empty fields, as proto3 does. */
class PbWriter {
  private readonly w = new BinaryWriter();
  int(field: number, v: bigint | number | boolean): this {
    const n = typeof v === "boolean" ? (v ? 1n : 0n) : BigInt(v);
    if (n !== 0n) this.w.tag(field, WireType.Varint).int64(n);
    return this;
  }
  /** `always`: write it even when empty (an element of a repeated field, a present sub-message). */
  bytes(field: number, b: Uint8Array, always = false): this {
    if (b.length > 0 || always) this.w.tag(field, WireType.LengthDelimited).bytes(b);
    return this;
  }
  finish(): Uint8Array {
    return this.w.finish();
  }
}

type PbField = { field: number; int?: bigint; bytes?: Uint8Array };

/** The varint and length-delimited fields of a message (others skipped); damage is MvccError("Corrupt"). */
function* pbFields(b: Uint8Array, what: string): Generator<PbField> {
  const r = new BinaryReader(b);
  while (r.pos < r.len) {
    let f: PbField;
    try {
      const [field, wire] = r.tag();
      if (wire === WireType.Varint) f = { field, int: BigInt(r.int64()) };
      else if (wire === WireType.LengthDelimited) f = { field, bytes: r.bytes() };
      else {
        r.skip(wire, field);
        continue;
      }
    } catch (e) {
      throw new MvccError("Corrupt", `${what}: ${(e as Error).message} at offset ${r.pos}`);
    }
    yield f;
  }
}

/** An 8-byte big-endian value (etcd's meta and auth counters), or undefined if it is not 8 bytes. */
function u64Of(b: Uint8Array | undefined): number | undefined {
  return b?.length === 8 ? Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)) : undefined;
}

// ---- revisions as etcd writes them

function etcdRevKey(main: number, sub: number, tombstone: boolean): Uint8Array {
  const k = new Uint8Array(tombstone ? 18 : 17);
  const v = new DataView(k.buffer);
  v.setBigUint64(0, BigInt(main));
  k[8] = 0x5f; // '_'
  v.setBigUint64(9, BigInt(sub));
  if (tombstone) k[17] = 0x74; // 't'
  return k;
}

function parseEtcdRevKey(k: Uint8Array): { main: number; sub: number; tombstone: boolean } {
  if ((k.length !== 17 && k.length !== 18) || k[8] !== 0x5f) {
    throw new MvccError("Corrupt", `"key" bucket key of ${k.length} bytes is not an etcd revision`);
  }
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return { main: Number(v.getBigUint64(0)), sub: Number(v.getBigUint64(9)), tombstone: k.length === 18 };
}

function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)));
  return b;
}

const byKey = (a: [Uint8Array, Uint8Array], b: [Uint8Array, Uint8Array]) => Buffer.compare(a[0], b[0]);

/** The etcd buckets for a snapshot's records (MvccStore.logicalRecords order), each sorted by key. */
export function etcdBuckets(records: Iterable<RecordPair>): EtcdBucket[] {
  const keys: Array<[Uint8Array, Uint8Array]> = [];
  const leases: Array<[Uint8Array, Uint8Array]> = [];
  const floe: Array<[Uint8Array, Uint8Array]> = [];
  let state: MetaState = INITIAL_STATE;
  let auth: AuthState | undefined;
  for (const [k, v] of records) {
    if (k[0] === PREFIX_REV) {
      const rev = parseRevKey(k);
      const r = decodeRecord(rev, v);
      const kv = new PbWriter().bytes(1, r.kv.key);
      if (!r.tombstone) {
        kv.int(2, r.kv.createRevision).int(3, r.kv.modRevision).int(4, r.kv.version).bytes(5, r.kv.value);
        kv.int(6, r.kv.lease);
      }
      keys.push([etcdRevKey(rev.main, rev.sub, r.tombstone), kv.finish()]);
    } else if (k[0] === PREFIX_LEASE) {
      const id = parseLeaseKey(k);
      const ttl = decodeLease(id, v);
      leases.push([u64(id), new PbWriter().int(1, id).int(2, ttl).finish()]);
    } else {
      floe.push([k, v]);
      if (Buffer.compare(k, STATE_KEY) === 0) state = decodeState(v);
      else if (Buffer.compare(k, AUTH_KEY) === 0) auth = AuthState.decode(v);
    }
  }
  leases.sort(byKey);
  floe.sort(byKey);
  const meta: Array<[Uint8Array, Uint8Array]> = [[enc("consistent_index"), u64(state.appliedIndex)]];
  if (state.compactRevision > 0) {
    const rev = etcdRevKey(state.compactRevision, 0, false);
    meta.push([enc("finishedCompactRev"), rev], [enc("scheduledCompactRev"), rev]);
  }
  const authBucket: Array<[Uint8Array, Uint8Array]> = [
    [enc("authEnabled"), Uint8Array.of(auth?.isEnabled ? 1 : 0)],
    [enc("authRevision"), u64(auth?.revision ?? 0)],
  ];
  const users: Array<[Uint8Array, Uint8Array]> = [];
  const roles: Array<[Uint8Array, Uint8Array]> = [];
  if (auth !== undefined) {
    for (const name of auth.userNames()) {
      const u = auth.user(name);
      if (!u) continue;
      const w = new PbWriter().bytes(1, enc(u.name)).bytes(2, enc(u.passwordHash));
      for (const r of u.roles) w.bytes(3, enc(r), true);
      if (u.noPassword) w.bytes(4, new PbWriter().int(1, true).finish(), true);
      users.push([enc(name), w.finish()]);
    }
    for (const name of auth.roleNames()) {
      const r = auth.role(name);
      if (!r) continue;
      const w = new PbWriter().bytes(1, enc(r.name));
      for (const p of r.perms) {
        w.bytes(2, new PbWriter().int(1, p.type).bytes(2, p.key).bytes(3, p.rangeEnd).finish(), true);
      }
      roles.push([enc(name), w.finish()]);
    }
  }
  const bucket = (name: string, entries: Array<[Uint8Array, Uint8Array]>): EtcdBucket => ({
    name: enc(name),
    entries,
  });
  return [
    bucket("alarm", []),
    bucket("auth", authBucket),
    bucket("authRoles", roles),
    bucket("authUsers", users),
    bucket("cluster", [[enc("clusterVersion"), enc("3.4.0")]]),
    bucket(FLOE_BUCKET, floe),
    bucket("key", keys),
    bucket("lease", leases),
    bucket("members", []),
    bucket("members_removed", []),
    bucket("meta", meta),
  ];
}

type Buckets = ReadonlyMap<string, ReadonlyArray<readonly [Uint8Array, Uint8Array]>>;

/**
 * floe's records (storage key order) for the state an etcd backend file
 * holds: the key space with every revision kept, leases, the applied index
 * and compaction point, and the auth store; floe's own bucket, when present,
 * supplies what etcd's buckets cannot carry.
 */
export function recordsFromEtcdBuckets(buckets: Buckets): RecordPair[] {
  const keyBucket = buckets.get("key");
  if (keyBucket === undefined) throw new MvccError("Corrupt", 'not an etcd backend: it has no "key" bucket');
  const out: RecordPair[] = [];
  for (const [k, v] of buckets.get("lease") ?? []) {
    let id: bigint | undefined;
    let ttl = 0;
    for (const f of pbFields(v, "lease")) {
      if (f.field === 1 && f.int !== undefined) id = f.int;
      else if (f.field === 2 && f.int !== undefined) ttl = Number(f.int);
    }
    id ??= BigInt.asIntN(64, new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0));
    out.push([leaseKey(id), encodeLease(ttl)]);
  }
  const floe = new Map<string, Uint8Array>();
  for (const [k, v] of buckets.get(FLOE_BUCKET) ?? []) floe.set(Buffer.from(k).toString("latin1"), v);
  let revision = 1;
  const revs: RecordPair[] = [];
  for (const [k, v] of keyBucket) {
    const r = parseEtcdRevKey(k);
    let key: Uint8Array = new Uint8Array(0);
    let value: Uint8Array = new Uint8Array(0);
    let create = 0;
    let version = 0;
    let lease = 0n;
    for (const f of pbFields(v, `revision ${r.main}.${r.sub}`)) {
      if (f.field === 1 && f.bytes) key = f.bytes;
      else if (f.field === 2 && f.int !== undefined) create = Number(f.int);
      else if (f.field === 4 && f.int !== undefined) version = Number(f.int);
      else if (f.field === 5 && f.bytes) value = f.bytes;
      else if (f.field === 6 && f.int !== undefined) lease = f.int;
    }
    revs.push([
      revKey(r.main, r.sub),
      r.tombstone ? encodeTombstone(key) : encodePut(key, value, create, version, lease).bytes,
    ]);
    revision = Math.max(revision, r.main);
  }
  const meta = new Map((buckets.get("meta") ?? []).map(([k, v]) => [Buffer.from(k).toString("latin1"), v]));
  const floeState = floe.get(Buffer.from(STATE_KEY).toString("latin1"));
  let state: MetaState;
  if (floeState !== undefined) state = decodeState(floeState);
  else {
    const ci = meta.get("consistent_index");
    const compacted = meta.get("finishedCompactRev");
    state = {
      ...INITIAL_STATE,
      appliedIndex: u64Of(ci) ?? 0,
      revision,
      compactRevision:
        compacted === undefined ? INITIAL_STATE.compactRevision : parseEtcdRevKey(compacted).main,
    };
  }
  if (floe.size > 0) {
    for (const [k, v] of floe) out.push([Buffer.from(k, "latin1"), v]);
  } else {
    const auth = authFromEtcd(buckets);
    if (auth !== undefined) out.push([AUTH_KEY, auth.encode()]);
    out.push([STATE_KEY, encodeState(state)]);
  }
  out.push(...revs);
  return out.sort((a, b) => Buffer.compare(a[0], b[0]));
}

/** etcd's auth buckets as floe's auth store (undefined when etcd had no users or roles). */
function authFromEtcd(buckets: Buckets): AuthState | undefined {
  const users = buckets.get("authUsers") ?? [];
  const roles = buckets.get("authRoles") ?? [];
  if (users.length === 0 && roles.length === 0) return undefined;
  const flags = new Map((buckets.get("auth") ?? []).map(([k, v]) => [Buffer.from(k).toString("latin1"), v]));
  const revBytes = flags.get("authRevision");
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");
  const doc = {
    v: 1,
    enabled: flags.get("authEnabled")?.[0] === 1,
    revision: u64Of(revBytes) ?? 1,
    users: users.map(([, v]) => {
      let name = "";
      let hash = "";
      const userRoles: string[] = [];
      let noPassword = false;
      for (const f of pbFields(v, "auth user")) {
        if (f.field === 1 && f.bytes) name = dec(f.bytes);
        else if (f.field === 2 && f.bytes) hash = dec(f.bytes);
        else if (f.field === 3 && f.bytes) userRoles.push(dec(f.bytes));
        else if (f.field === 4 && f.bytes) {
          for (const o of pbFields(f.bytes, "auth options")) if (o.field === 1 && o.int) noPassword = true;
        }
      }
      return { name, hash, roles: userRoles.sort(), noPassword };
    }),
    roles: roles.map(([, v]) => {
      let name = "";
      const perms: { type: number; key: string; end: string }[] = [];
      for (const f of pbFields(v, "auth role")) {
        if (f.field === 1 && f.bytes) name = dec(f.bytes);
        else if (f.field === 2 && f.bytes) {
          const p: { type: number; key: Uint8Array; rangeEnd: Uint8Array } = {
            type: 0,
            key: new Uint8Array(0),
            rangeEnd: new Uint8Array(0),
          };
          for (const g of pbFields(f.bytes, "permission")) {
            if (g.field === 1 && g.int !== undefined) p.type = Number(g.int);
            else if (g.field === 2 && g.bytes) p.key = g.bytes;
            else if (g.field === 3 && g.bytes) p.rangeEnd = g.bytes;
          }
          perms.push({ type: p.type, key: b64(p.key), end: b64(p.rangeEnd) });
        }
      }
      // floe keeps a role's permissions sorted by key, then range end
      perms.sort(
        (a, b) =>
          Buffer.compare(Buffer.from(a.key, "base64"), Buffer.from(b.key, "base64")) ||
          Buffer.compare(Buffer.from(a.end, "base64"), Buffer.from(b.end, "base64")),
      );
      return { name, perms };
    }),
  };
  return AuthState.decode(new TextEncoder().encode(JSON.stringify(doc)));
}
