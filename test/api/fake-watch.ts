// Watch streams for the fake backend: per stream a queue of responses, per
// watcher a key range; creates with a start revision replay history first.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { CallContext } from "../../src/api/backend.ts";
import * as pb from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { type Event, Event_EventType } from "../../src/api/gen/mvccpb/kv_pb.ts";
import { AsyncQueue } from "../../src/api/queue.ts";
import { type FakeBackend, inRange } from "./fake-backend.ts";

interface Watcher {
  readonly id: bigint;
  readonly start: string;
  readonly end: string;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly out: AsyncQueue<pb.WatchResponse>;
}

const str = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

export class FakeWatchHub {
  private readonly watchers = new Set<Watcher>();
  private nextId = 0n;

  constructor(private readonly kv: FakeBackend) {}

  /** Live watchers over all streams. */
  get size(): number {
    return this.watchers.size;
  }

  private deliver(w: Watcher, rev: bigint, events: readonly Event[]): void {
    const mine = events
      .filter((e) => inRange(str(e.kv?.key ?? new Uint8Array()), w.start, w.end))
      .filter((e) => !(e.type === Event_EventType.PUT ? w.noPut : w.noDelete))
      .map((e) => (w.prevKv ? e : { ...e, prevKv: undefined }));
    if (mine.length === 0) return;
    void w.out.push(
      create(pb.WatchResponseSchema, { header: { revision: rev }, watchId: w.id, events: mine }),
    );
  }

  publish(rev: bigint, events: readonly Event[]): void {
    for (const w of this.watchers) this.deliver(w, rev, events);
  }

  stream(requests: AsyncIterable<pb.WatchRequest>, ctx: CallContext): AsyncIterable<pb.WatchResponse> {
    const out = new AsyncQueue<pb.WatchResponse>(1024);
    const mine = new Map<bigint, Watcher>();
    const send = (init: MessageInitShape<typeof pb.WatchResponseSchema>) =>
      void out.push(create(pb.WatchResponseSchema, init));
    const closeAll = () => {
      for (const w of mine.values()) this.watchers.delete(w);
      mine.clear();
      out.end();
    };
    ctx.signal.addEventListener("abort", closeAll, { once: true });

    const onCreate = (c: pb.WatchCreateRequest) => {
      const id = c.watchId !== 0n ? c.watchId : this.nextId++;
      if (mine.has(id)) {
        send({ watchId: -1n, created: true, canceled: true, cancelReason: "watch id already in use" });
        return;
      }
      if (c.startRevision !== 0n && c.startRevision < this.kv.compactRevision) {
        send({ watchId: id, created: true });
        send({ watchId: id, canceled: true, compactRevision: this.kv.compactRevision });
        return;
      }
      const filters = new Set(c.filters);
      const w: Watcher = {
        id,
        start: str(c.key),
        end: str(c.rangeEnd),
        prevKv: c.prevKv,
        noPut: filters.has(pb.WatchCreateRequest_FilterType.NOPUT),
        noDelete: filters.has(pb.WatchCreateRequest_FilterType.NODELETE),
        out,
      };
      send({ header: { revision: this.kv.revision }, watchId: id, created: true });
      if (c.startRevision !== 0n) {
        for (const [rev, events] of this.kv.eventsSince(c.startRevision)) this.deliver(w, rev, events);
      }
      mine.set(id, w);
      this.watchers.add(w);
    };

    (async () => {
      for await (const req of requests) {
        const r = req.requestUnion;
        if (r.case === "createRequest") onCreate(r.value);
        else if (r.case === "cancelRequest") {
          const w = mine.get(r.value.watchId);
          if (w === undefined) continue;
          mine.delete(w.id);
          this.watchers.delete(w);
          send({ watchId: w.id, canceled: true });
        } else if (r.case === "progressRequest") send({ watchId: -1n });
      }
    })().catch(() => closeAll());
    return out;
  }
}
