// etcd's v3 Lock service (v3lockpb.Lock), as etcd 3.4's v3lock server runs
// clientv3/concurrency's Mutex inside the member: a waiter is the key
// `<name>/<lease hex>` put with its lease (locking twice with one lease is one
// acquisition), the oldest waiter holds the lock, and Unlock deletes the key.

import { create } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import {
  asEtcdService,
  cleanupContext,
  createRevisionIs,
  firstCreated,
  innerContext,
  putOp,
  rangeOp,
  rangeResponseAt,
  waitDeletes,
  waiterOf,
} from "./concurrency.ts";
import {
  DeleteRangeRequestSchema,
  type ResponseHeader,
  TxnRequestSchema,
} from "./gen/etcdserverpb/rpc_pb.ts";
import {
  type LockRequest,
  type LockResponse,
  LockResponseSchema,
  type UnlockRequest,
  type UnlockResponse,
  UnlockResponseSchema,
} from "./gen/v3lockpb/v3lock_pb.ts";
import type { Operations } from "./operations.ts";

export class LockService {
  constructor(private readonly ops: Operations) {}

  /**
   * Waits until the caller's key is the oldest under the lock's prefix and
   * answers with it. Uncontended, that is one txn, whose header the answer
   * carries; after a wait, the header is that of the read that found no older
   * waiter. If the wait fails (the caller went away, a compacted watch), the
   * key is deleted, as etcd's Mutex does.
   */
  lock = (req: LockRequest, ctx: CallContext): Promise<LockResponse> =>
    asEtcdService(ctx, async () => {
      const { ops } = this;
      const { inner, lease, prefix, key } = await waiterOf(ops, req, ctx);
      const owner = rangeOp(firstCreated(prefix));
      const made = await ops.txn(
        create(TxnRequestSchema, {
          compare: [createRevisionIs(key, 0n)],
          success: [putOp(key, new Uint8Array(), lease), owner],
          failure: [rangeOp({ key }), owner],
        }),
        inner,
      );
      const header = made.header as ResponseHeader;
      const rev = made.succeeded
        ? header.revision
        : (rangeResponseAt(made.responses, 0).kvs[0]?.createRevision ?? header.revision);
      const holder = rangeResponseAt(made.responses, 1).kvs[0];
      if (holder === undefined || holder.createRevision === rev) {
        return create(LockResponseSchema, { header, key });
      }
      try {
        const waited = await waitDeletes(ops, prefix, rev - 1n, inner);
        return create(LockResponseSchema, { header: waited, key });
      } catch (e) {
        await ops
          .deleteRange(create(DeleteRangeRequestSchema, { key }), cleanupContext(ctx))
          .catch(() => undefined);
        throw e;
      }
    });

  /** Deletes the lock's key (whoever holds it: etcd checks nothing). */
  unlock = (req: UnlockRequest, ctx: CallContext): Promise<UnlockResponse> =>
    asEtcdService(ctx, async () => {
      const resp = await this.ops.deleteRange(
        create(DeleteRangeRequestSchema, { key: req.key }),
        innerContext(ctx),
      );
      return create(UnlockResponseSchema, { header: resp.header });
    });
}
