/**
 * The client side of the network: client ids (`c1`, `c2`, ...), their
 * requests with per-client `msg_id`s, timeouts, and matching of node replies
 * to requests. A reply must answer a request its client actually sent and
 * has not had answered yet; a reply after the client gave up is a late
 * reply, which is allowed and counted.
 */
import { replyProblem } from "./protocol.ts";
import type { Body, Message, OpType } from "./types.ts";

export type RequestKind = OpType | "init";

export type RequestResult = { reply: Body; at: number } | { timedOut: true; at: number };

interface Request {
  node: string;
  kind: RequestKind;
  state: "pending" | "answered" | "timed-out";
  timer: NodeJS.Timeout | undefined;
  settle(result: RequestResult): void;
}

export interface ClientsOptions {
  now(): number;
  /** Writes a message to a node (clients have no latency and are never partitioned). */
  deliver(message: Message): void;
}

export class Clients {
  private nextClient = 1;
  private readonly nextMsgId = new Map<string, number>();
  private readonly requests = new Map<string, Map<number, Request>>();
  /** Replies that arrived after their request timed out. */
  lateReplies = 0;
  /** Client messages by body type, requests and replies alike. */
  readonly countsByType = new Map<string, number>();
  requestsSent = 0;
  repliesReceived = 0;

  constructor(private readonly opts: ClientsOptions) {}

  /** A fresh client id. Jepsen opens a new client after every indeterminate operation. */
  open(): string {
    const id = `c${this.nextClient++}`;
    this.nextMsgId.set(id, 1);
    this.requests.set(id, new Map());
    return id;
  }

  isClient(id: string): boolean {
    return this.requests.has(id);
  }

  /** Sends `body` from `client` to `node` and resolves with the reply, or a timeout. */
  request(
    client: string,
    node: string,
    kind: RequestKind,
    body: { type: string; [field: string]: unknown },
    timeoutMs: number,
  ): {
    msgId: number;
    sentAt: number;
    result: Promise<RequestResult>;
  } {
    const msgId = this.nextMsgId.get(client)!;
    this.nextMsgId.set(client, msgId + 1);
    let settle!: (r: RequestResult) => void;
    const result = new Promise<RequestResult>((resolve) => (settle = resolve));
    const req: Request = { node, kind, state: "pending", timer: undefined, settle };
    req.timer = setTimeout(() => {
      if (req.state !== "pending") return;
      req.state = "timed-out";
      settle({ timedOut: true, at: this.opts.now() });
    }, timeoutMs);
    this.requests.get(client)!.set(msgId, req);
    const sentAt = this.opts.now();
    this.count(body.type);
    this.requestsSent++;
    this.opts.deliver({ src: client, dest: node, body: { ...body, msg_id: msgId } as Body });
    return { msgId, sentAt, result };
  }

  /**
   * Handles a message from a node to a client; returns the problem when it
   * breaks the protocol, undefined when it was accepted.
   */
  receive(message: Message, at: number): string | undefined {
    const byId = this.requests.get(message.dest);
    if (byId === undefined)
      return `${message.src} sent a message to ${message.dest}, which is no node or client`;
    const { body } = message;
    this.count(body.type);
    this.repliesReceived++;
    const to = body.in_reply_to;
    if (to === undefined) {
      return `${message.src} sent client ${message.dest} a ${JSON.stringify(body.type)} message without "in_reply_to"; clients only accept replies`;
    }
    const req = byId.get(to);
    if (req === undefined) {
      const sent = byId.size === 0 ? "none" : `1..${byId.size}`;
      return `${message.src} replied to client ${message.dest} with in_reply_to ${to}, which matches no request it sent (its msg_ids: ${sent})`;
    }
    const problem = replyProblem(req.kind, body);
    if (problem !== undefined) return `${message.src} sent client ${message.dest} ${problem}`;
    if (req.state === "answered") {
      return `${message.src} answered request ${to} of client ${message.dest} a second time`;
    }
    if (req.state === "timed-out") {
      req.state = "answered";
      this.lateReplies++;
      return undefined;
    }
    req.state = "answered";
    clearTimeout(req.timer);
    req.settle({ reply: body, at });
    return undefined;
  }

  /** Settles every pending request as timed out (used when a run aborts). */
  abandonAll(): void {
    for (const byId of this.requests.values()) {
      for (const req of byId.values()) {
        if (req.state !== "pending") continue;
        req.state = "timed-out";
        clearTimeout(req.timer);
        req.settle({ timedOut: true, at: this.opts.now() });
      }
    }
  }

  private count(type: string): void {
    this.countsByType.set(type, (this.countsByType.get(type) ?? 0) + 1);
  }
}
