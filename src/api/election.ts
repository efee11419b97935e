// etcd's v3 Election service (v3electionpb.Election), as etcd 3.4's
// v3election server runs clientv3/concurrency's Election inside the member:
// a candidate is the key `<name>/<lease hex>` put with its lease, the
// candidate with the oldest key leads, and the others wait for the older keys
// to go. A LeaderKey (name, key, the key's create revision, lease) is what a
// leader proves its leadership with; Proclaim and Resign act only while that
// key exists with that create revision. See concurrency.ts for the steps the
// services share.

import { create } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import {
  asEtcdService,
  bytesEqual,
  cleanupContext,
  createRevisionIs,
  deleteOp,
  firstCreated,
  innerContext,
  prefixEnd,
  prefixOf,
  putOp,
  rangeOp,
  rangeResponseAt,
  sessionLease,
  waitDeletes,
  waiterOf,
  watchEvents,
} from "./concurrency.ts";
import { FloeError } from "./errors.ts";
import { RangeRequestSchema, type ResponseHeader, TxnRequestSchema } from "./gen/etcdserverpb/rpc_pb.ts";
import { Event_EventType, type KeyValue } from "./gen/mvccpb/kv_pb.ts";
import {
  type CampaignRequest,
  type CampaignResponse,
  CampaignResponseSchema,
  type LeaderKey,
  type LeaderRequest,
  type LeaderResponse,
  LeaderResponseSchema,
  type ProclaimRequest,
  type ProclaimResponse,
  ProclaimResponseSchema,
  type ResignRequest,
  type ResignResponse,
  ResignResponseSchema,
} from "./gen/v3electionpb/v3election_pb.ts";
import type { Operations } from "./operations.ts";

/** Puts `value` on the leader key if it still exists with create revision `rev`; throws ELECTION_NOT_LEADER if not. */
async function proclaimAs(
  ops: Operations,
  leader: { key: Uint8Array; rev: bigint; lease: bigint },
  value: Uint8Array,
  ctx: CallContext,
): Promise<ResponseHeader> {
  const resp = await ops.txn(
    create(TxnRequestSchema, {
      compare: [createRevisionIs(leader.key, leader.rev)],
      success: [putOp(leader.key, value, leader.lease)],
    }),
    ctx,
  );
  if (!resp.succeeded) throw FloeError.of("ELECTION_NOT_LEADER");
  return resp.header as ResponseHeader;
}

/** Deletes the leader key if it still exists with create revision `rev` (no error if not). */
async function resignAs(
  ops: Operations,
  leader: { key: Uint8Array; rev: bigint },
  ctx: CallContext,
): Promise<ResponseHeader> {
  const resp = await ops.txn(
    create(TxnRequestSchema, {
      compare: [createRevisionIs(leader.key, leader.rev)],
      success: [deleteOp(leader.key)],
    }),
    ctx,
  );
  return resp.header as ResponseHeader;
}

/** A LeaderKey the request must carry (etcd's ErrMissingLeaderKey when it does not). */
function leaderOf(req: { leader?: LeaderKey }): LeaderKey {
  if (req.leader === undefined) throw FloeError.of("ELECTION_MISSING_LEADER_KEY");
  return req.leader;
}

export class ElectionService {
  constructor(private readonly ops: Operations) {}

  /**
   * Becomes a candidate and waits to lead. A candidate key left by an earlier
   * campaign with the same lease is taken over (its value proclaimed anew).
   * The answer's header is that of the write that made the candidate. If the
   * caller goes away while waiting, the candidate resigns, as etcd's does;
   * any other failure while waiting leaves the key to its lease.
   */
  campaign = (req: CampaignRequest, ctx: CallContext): Promise<CampaignResponse> =>
    asEtcdService(ctx, async () => {
      const { ops } = this;
      const { inner, lease, prefix, key } = await waiterOf(ops, req, ctx);
      const made = await ops.txn(
        create(TxnRequestSchema, {
          compare: [createRevisionIs(key, 0n)],
          success: [putOp(key, req.value, lease)],
          failure: [rangeOp({ key })],
        }),
        inner,
      );
      const header = made.header as ResponseHeader;
      let rev = header.revision;
      if (!made.succeeded) {
        const kv = rangeResponseAt(made.responses, 0).kvs[0] as KeyValue;
        rev = kv.createRevision;
        if (!bytesEqual(kv.value, req.value)) {
          try {
            await proclaimAs(ops, { key, rev, lease }, req.value, inner);
          } catch (e) {
            await resignAs(ops, { key, rev }, inner).catch(() => undefined);
            throw e;
          }
        }
      }
      try {
        await waitDeletes(ops, prefix, rev - 1n, inner);
      } catch (e) {
        if (ctx.signal.aborted) await resignAs(ops, { key, rev }, cleanupContext(ctx)).catch(() => undefined);
        throw e;
      }
      return create(CampaignResponseSchema, { header, leader: { name: req.name, key, rev, lease } });
    });

  /**
   * A new value on the leader key, if it is still the leader's. A LeaderKey
   * with lease 0 makes a new session lease for the put, as etcd's does.
   */
  proclaim = (req: ProclaimRequest, ctx: CallContext): Promise<ProclaimResponse> =>
    asEtcdService(ctx, async () => {
      const leader = leaderOf(req);
      const inner = innerContext(ctx);
      const lease = await sessionLease(this.ops, leader.lease, inner);
      const header = await proclaimAs(
        this.ops,
        { key: leader.key, rev: leader.rev, lease },
        req.value,
        inner,
      );
      return create(ProclaimResponseSchema, { header });
    });

  /** The election's leader: its oldest candidate key (ELECTION_NO_LEADER when there is none). */
  leader = (req: LeaderRequest, ctx: CallContext): Promise<LeaderResponse> =>
    asEtcdService(ctx, async () => {
      const resp = await this.ops.range(
        create(RangeRequestSchema, firstCreated(prefixOf(req.name))),
        innerContext(ctx),
      );
      const kv = resp.kvs[0];
      if (kv === undefined) throw FloeError.of("ELECTION_NO_LEADER");
      return create(LeaderResponseSchema, { header: resp.header, kv });
    });

  /**
   * Gives up leadership: deletes the leader key if it is still the leader's.
   * A LeaderKey with lease 0 makes a new session lease first, as etcd's does.
   */
  resign = (req: ResignRequest, ctx: CallContext): Promise<ResignResponse> =>
    asEtcdService(ctx, async () => {
      const leader = leaderOf(req);
      const inner = innerContext(ctx);
      await sessionLease(this.ops, leader.lease, inner);
      const header = await resignAs(this.ops, leader, inner);
      return create(ResignResponseSchema, { header });
    });

  /**
   * The leader and each of its proclamations, in order, as etcd's Observe:
   * the current leader (or, with none, the first key put under the prefix),
   * every later put of that key, and when the key goes, the next leader. The
   * stream ends without an error if a read or a watch fails, as etcd's does.
   */
  observe = (req: LeaderRequest, ctx: CallContext): AsyncIterable<LeaderResponse> =>
    this.observeLeaders(prefixOf(req.name), ctx);

  private async *observeLeaders(prefix: Uint8Array, ctx: CallContext): AsyncGenerator<LeaderResponse> {
    const { ops } = this;
    const inner = innerContext(ctx);
    try {
      for (;;) {
        const current = await ops.range(create(RangeRequestSchema, firstCreated(prefix)), inner);
        let header = current.header as ResponseHeader;
        let kv = current.kvs[0];
        if (kv === undefined) {
          const first = await this.firstPut(prefix, header.revision, inner);
          if (first === undefined) return;
          ({ header, kv } = first);
        }
        yield create(LeaderResponseSchema, { header, kv });
        let deleted = false;
        for await (const wr of watchEvents(
          ops,
          { key: kv.key, startRevision: header.revision + 1n },
          inner,
        )) {
          for (const ev of wr.events) {
            if (ev.type === Event_EventType.DELETE) {
              deleted = true;
              break;
            }
            yield create(LeaderResponseSchema, { header: wr.header, kv: ev.kv });
          }
          if (deleted) break;
        }
        if (!deleted) return;
      }
    } catch (e) {
      if (ctx.signal.aborted || !(e instanceof FloeError)) throw e;
    }
  }

  /** The first put under `prefix` from `rev` on, with the header's revision set to the put's. */
  private async firstPut(
    prefix: Uint8Array,
    rev: bigint,
    ctx: CallContext,
  ): Promise<{ header: ResponseHeader; kv: KeyValue } | undefined> {
    const range = { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: rev };
    for await (const wr of watchEvents(this.ops, range, ctx)) {
      const put = wr.events.find((ev) => ev.type === Event_EventType.PUT);
      if (put?.kv !== undefined) {
        const header = { ...(wr.header as ResponseHeader), revision: put.kv.modRevision };
        return { header, kv: put.kv };
      }
    }
    return undefined;
  }
}
