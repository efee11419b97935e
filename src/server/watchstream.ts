// One client watch stream over the mvcc watch hub: many watchers, bounded
// buffering (a full stream makes the hub treat the watcher as slow; it then
// catches up from storage), and exactly one cancel response per watcher.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { CallContext } from "../api/backend.ts";
import {
  type WatchRequest,
  type WatchResponse,
  WatchResponseSchema,
} from "../api/gen/etcdserverpb/rpc_pb.ts";
import type { MvccStore, Watcher, WatchFilter } from "../mvcc/index.ts";
import { fromEvent, num } from "./convert.ts";

const MAX_BUFFERED = 256;

export async function* watchStream(
  store: MvccStore,
  requests: AsyncIterable<WatchRequest>,
  ctx: CallContext,
): AsyncIterable<WatchResponse> {
  const queue: WatchResponse[] = [];
  let wake: (() => void) | undefined;
  const push = (r: WatchResponse): void => {
    queue.push(r);
    wake?.();
  };
  const watchers = new Map<bigint, Watcher>();
  let nextId = 0n;
  const response = (fields: MessageInitShape<typeof WatchResponseSchema>): WatchResponse =>
    create(WatchResponseSchema, fields);

  const onRequest = (req: WatchRequest): void => {
    const r = req.requestUnion;
    if (r.case === "createRequest") {
      const c = r.value;
      let id = c.watchId;
      if (id === 0n) {
        while (watchers.has(nextId)) nextId++;
        id = nextId++;
      } else if (watchers.has(id)) {
        push(
          response({
            watchId: id,
            created: true,
            canceled: true,
            cancelReason: "etcdserver: duplicate watch ID",
          }),
        );
        return;
      }
      let w: Watcher;
      // Deliveries made while the watcher is being created wait until "created" is sent.
      let early: WatchResponse[] | undefined = [];
      const emit = (resp: WatchResponse): void => {
        if (early) early.push(resp);
        else push(resp);
      };
      try {
        w = store.watch(
          {
            key: c.key,
            rangeEnd: c.rangeEnd.length > 0 ? c.rangeEnd : undefined,
            startRevision: num(c.startRevision, "start_revision"),
            prevKv: c.prevKv,
            filters: c.filters.map((f) => f as number as WatchFilter),
          },
          (d) => {
            if (d.compactRevision !== undefined) {
              watchers.delete(id);
              emit(response({ watchId: id, canceled: true, compactRevision: BigInt(d.compactRevision) }));
              return true;
            }
            if (queue.length >= MAX_BUFFERED) return false;
            if (d.events.length > 0) {
              emit(
                response({
                  watchId: id,
                  events: d.events.map(fromEvent),
                  header: { revision: BigInt(d.revision) },
                }),
              );
            }
            return true;
          },
        );
      } catch (e) {
        push(response({ watchId: -1n, created: true, canceled: true, cancelReason: (e as Error).message }));
        return;
      }
      if (w.state !== "cancelled") watchers.set(id, w);
      push(response({ watchId: id, created: true }));
      const held = early;
      early = undefined;
      for (const resp of held) push(resp);
    } else if (r.case === "cancelRequest") {
      const id = r.value.watchId;
      const w = watchers.get(id);
      if (w) {
        w.cancel();
        watchers.delete(id);
        push(response({ watchId: id, canceled: true }));
      }
    } else if (r.case === "progressRequest") {
      push(response({ watchId: -1n }));
    }
  };

  void (async () => {
    try {
      for await (const req of requests) {
        if (ctx.signal.aborted) return;
        onRequest(req);
      }
    } catch {
      // the client went away; the abort signal ends the stream
    }
  })();
  const onAbort = (): void => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    while (!ctx.signal.aborted) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    for (const w of watchers.values()) w.cancel();
    watchers.clear();
  }
}
