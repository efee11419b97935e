// One client watch stream over the mvcc watch hub: many watchers, bounded
// buffering (a full stream makes the hub treat the watcher as slow; it then
// catches up from storage), and exactly one cancel response per watcher.
//
// Progress, as etcd's serverWatchStream reports it: a progress_request is
// answered with one watch_id -1 response at the current revision once no
// watcher of the stream is catching up (deferred until then, and requests
// made meanwhile share that one answer); a watcher created with
// progress_notify that was sent no events for a whole interval gets an empty
// response with its own id. Both claim "you have every event up to this
// revision", which is why neither goes to a watcher that is behind.
//
// A watcher created with fragment gets a response whose encoding reaches the
// request limit split into several, fragment set on all but the last (etcd's
// sendFragments); each part keeps at least one event, so one huge event still
// travels whole. Without fragment a large batch is sent whole.

import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type WatchRequest,
  type WatchResponse,
  WatchResponseSchema,
} from "../api/gen/etcdserverpb/rpc_pb.ts";
import { EventSchema, type Event as PbEvent } from "../api/gen/mvccpb/kv_pb.ts";
import type { CallContext } from "../api/index.ts";
import type { MvccStore, Watcher, WatchFilter } from "../mvcc/index.ts";
import { fromEvent, num } from "./convert.ts";
import { type ClockTimer, type RuntimeClock, realClock } from "./runtime.ts";

/** Responses a stream holds for a client that does not read them before its watchers fall behind. */
export const DEFAULT_WATCH_STREAM_BUFFER = 256;

/** etcd's default --experimental-watch-progress-notify-interval. */
export const DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;
/** etcd's default --max-request-bytes, which also bounds a watch response fragment. */
export const DEFAULT_WATCH_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export interface WatchStreamOptions {
  /** Idle time after which a progress_notify watcher gets a progress response (default 10 minutes). */
  progressNotifyIntervalMs?: number;
  /** A fragment watcher's responses this large or larger are split (default 1.5 MiB). */
  maxRequestBytes?: number;
  /** Throws (a FloeError) when the stream's user may not watch the range; called at each create. */
  authorize?: (key: Uint8Array, rangeEnd: Uint8Array) => void;
  /** Responses held for a slow client (default DEFAULT_WATCH_STREAM_BUFFER). */
  buffer?: number;
  /** Time for progress notifications (default: the process's). */
  clock?: RuntimeClock;
  /** Deliberately broken behaviour, for the simulator's mutation tests only. */
  mutations?: WatchMutations;
}

export interface WatchMutations {
  /** A full stream claims a delivery taken and drops it (the hub never replays it). */
  dropWhenFull?: boolean;
}

/** What the stream keeps per watch id. */
interface StreamWatch {
  readonly watcher: Watcher;
  readonly progressNotify: boolean;
  /** No events were sent since the last progress tick. */
  idle: boolean;
}

export async function* watchStream(
  store: MvccStore,
  requests: AsyncIterable<WatchRequest>,
  ctx: CallContext,
  options: WatchStreamOptions = {},
): AsyncIterable<WatchResponse> {
  const progressIntervalMs = options.progressNotifyIntervalMs ?? DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS;
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_WATCH_MAX_REQUEST_BYTES;
  const buffer = options.buffer ?? DEFAULT_WATCH_STREAM_BUFFER;
  const clock = options.clock ?? realClock;
  const dropWhenFull = options.mutations?.dropWhenFull === true;
  const queue: WatchResponse[] = [];
  let wake: (() => void) | undefined;
  const push = (r: WatchResponse): void => {
    queue.push(r);
    wake?.();
  };
  const watches = new Map<bigint, StreamWatch>();
  let nextId = 0n;
  const response = (fields: MessageInitShape<typeof WatchResponseSchema>): WatchResponse =>
    create(WatchResponseSchema, fields);

  // A progress_request that arrived while a watcher was behind; cleared once answered.
  let stopDeferred: (() => void) | undefined;
  const streamProgress = (): boolean => {
    const rev = store.hub.progress([...watches.values()].map((s) => s.watcher));
    if (rev === undefined) return false;
    push(response({ watchId: -1n, header: { revision: BigInt(rev) } }));
    return true;
  };
  const maybeAnswerDeferred = (): void => {
    if (stopDeferred === undefined || !streamProgress()) return;
    stopDeferred();
    stopDeferred = undefined;
  };

  let progressTimer: ClockTimer | undefined;
  const onProgressTick = (): void => {
    for (const [id, sw] of watches) {
      if (!sw.progressNotify) continue;
      const rev = sw.idle ? store.hub.progress([sw.watcher]) : undefined;
      if (rev !== undefined) push(response({ watchId: id, header: { revision: BigInt(rev) } }));
      sw.idle = true;
    }
  };

  const remove = (id: bigint): void => {
    watches.delete(id);
    maybeAnswerDeferred();
  };

  const onCreate = (c: Extract<WatchRequest["requestUnion"], { case: "createRequest" }>["value"]): void => {
    let id = c.watchId;
    if (id === 0n) {
      while (watches.has(nextId)) nextId++;
      id = nextId++;
    } else if (watches.has(id)) {
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
    try {
      options.authorize?.(c.key, c.rangeEnd);
    } catch (e) {
      push(response({ watchId: -1n, created: true, canceled: true, cancelReason: (e as Error).message }));
      return;
    }
    let sw: StreamWatch | undefined;
    // Deliveries made while the watcher is being created wait until "created" is sent.
    let early: WatchResponse[] | undefined = [];
    const emit = (resp: WatchResponse): void => {
      if (early) early.push(resp);
      else push(resp);
    };
    let w: Watcher;
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
            emit(response({ watchId: id, canceled: true, compactRevision: BigInt(d.compactRevision) }));
            if (sw !== undefined) remove(id);
            return true;
          }
          if (queue.length >= buffer) return dropWhenFull;
          if (d.events.length > 0) {
            if (sw !== undefined) sw.idle = false;
            const resp = response({
              watchId: id,
              events: d.events.map(fromEvent),
              header: { revision: BigInt(d.revision) },
            });
            if (c.fragment) for (const part of fragments(resp, maxRequestBytes)) emit(part);
            else emit(resp);
          }
          return true;
        },
      );
    } catch (e) {
      push(response({ watchId: -1n, created: true, canceled: true, cancelReason: (e as Error).message }));
      return;
    }
    if (w.state !== "cancelled") {
      sw = { watcher: w, progressNotify: c.progressNotify, idle: true };
      watches.set(id, sw);
      if (c.progressNotify && progressTimer === undefined) {
        progressTimer = clock.setInterval(onProgressTick, progressIntervalMs);
      }
    }
    push(response({ watchId: id, created: true }));
    const held = early;
    early = undefined;
    for (const resp of held) push(resp);
  };

  const onRequest = (req: WatchRequest): void => {
    const r = req.requestUnion;
    if (r.case === "createRequest") onCreate(r.value);
    else if (r.case === "cancelRequest") {
      const id = r.value.watchId;
      const sw = watches.get(id);
      if (sw) {
        sw.watcher.cancel();
        push(response({ watchId: id, canceled: true }));
        remove(id);
      }
    } else if (r.case === "progressRequest") {
      if (stopDeferred === undefined && !streamProgress()) {
        stopDeferred = store.hub.onSync(maybeAnswerDeferred);
      }
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
    if (progressTimer !== undefined) clock.clear(progressTimer);
    stopDeferred?.();
    for (const sw of watches.values()) sw.watcher.cancel();
    watches.clear();
  }
}

/**
 * The response's header is completed later (cluster and member ids, term):
 * this many bytes cover those three uint64 fields, so a fragment measured here
 * stays under the limit once sent.
 */
const HEADER_FILL_BYTES = 3 * 11;

/**
 * Splits resp into fragments each encoding below maxBytes (or holding a single
 * event), all but the last marked fragment. A response already below the
 * limit, or with fewer than two events, is returned as it is.
 */
export function fragments(resp: WatchResponse, maxBytes: number): WatchResponse[] {
  if (resp.events.length < 2) return [resp];
  const baseBytes = toBinary(WatchResponseSchema, { ...resp, events: [] }).length + HEADER_FILL_BYTES;
  const eventBytes = resp.events.map((e) => repeatedFieldBytes(toBinary(EventSchema, e).length));
  if (eventBytes.reduce((n, x) => n + x, baseBytes) < maxBytes) return [resp];
  const parts: PbEvent[][] = [];
  let part: PbEvent[] = [];
  let size = baseBytes;
  resp.events.forEach((ev, i) => {
    if (part.length > 0 && size + eventBytes[i] >= maxBytes) {
      parts.push(part);
      part = [];
      size = baseBytes;
    }
    part.push(ev);
    size += eventBytes[i];
  });
  parts.push(part);
  return parts.map((events, i) =>
    create(WatchResponseSchema, { ...resp, events, fragment: i < parts.length - 1 }),
  );
}

/** Bytes of one element of a repeated message field numbered below 16: tag, length, body. */
function repeatedFieldBytes(bodyBytes: number): number {
  let lengthBytes = 1;
  for (let n = bodyBytes; n >= 0x80; n = Math.floor(n / 0x80)) lengthBytes++;
  return 1 + lengthBytes + bodyBytes;
}
