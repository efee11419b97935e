// Plain HTTP requests that arrive over HTTP/2 (curl over TLS negotiates h2:
// the JSON gateway, /health, /metrics, /version) are given to the HTTP
// listener as the small request/response pair it uses with HTTP/1.1.

import { HpackEncoder } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";

const encoder = new HpackEncoder();

/** The request side: method, path, headers, the socket, and the body as an async iterable. */
export class H2HttpRequest implements AsyncIterable<Buffer> {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  private readonly chunks: Buffer[] = [];
  private done: boolean;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: H2Stream) {
    this.headers = stream.headers;
    this.method = stream.headers[":method"];
    this.url = stream.headers[":path"];
    this.done = stream.inputEnded || stream.closed;
    // the body is taken from the first byte on, whenever the listener starts reading it
    stream.onData = (chunk) => {
      this.chunks.push(chunk);
      // hold the sender back (our window) while the body is not being read
      if (this.chunks.length > 16) stream.pause();
      this.poke();
    };
    stream.onEnd = () => {
      this.done = true;
      this.poke();
    };
    stream.onClose(() => {
      this.done = true;
      this.poke();
    });
  }

  get socket(): unknown {
    return this.stream.socket;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.chunks.shift();
      if (next !== undefined) {
        if (this.chunks.length === 0) this.stream.resume();
        yield next;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

type Event = "close" | "drain";

/** The response side, as much of Node's response object as the HTTP listener uses. */
export class H2HttpResponse {
  private listeners: Record<Event, (() => void)[]> = { close: [], drain: [] };

  constructor(private readonly stream: H2Stream) {
    stream.onDrain = () => this.fire("drain");
    stream.onClose(() => this.fire("close"));
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get writableEnded(): boolean {
    return this.stream.writableEnded;
  }

  get destroyed(): boolean {
    return this.stream.closed;
  }

  writeHead(statusCode: number, headers: Record<string, string>): this {
    const fields: [string, string][] = [[":status", String(statusCode)]];
    for (const [name, value] of Object.entries(headers)) fields.push([name.toLowerCase(), value]);
    this.stream.respond(encoder.encode(fields));
    return this;
  }

  write(chunk: string): boolean {
    if (!this.stream.headersSent) this.writeHead(200, {});
    return this.stream.write(Buffer.from(chunk, "utf8"));
  }

  end(chunk?: string | Buffer): this {
    if (!this.stream.headersSent) this.writeHead(200, {});
    if (chunk === undefined || chunk.length === 0) this.stream.end(undefined);
    else this.stream.end(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
    return this;
  }

  /** The listener runs once, when `event` next fires (the listener only ever uses once). */
  once(event: Event, listener: () => void): this {
    this.listeners[event].push(listener);
    return this;
  }

  removeListener(event: Event, listener: () => void): this {
    const list = this.listeners[event];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  /** Every listener registered is a once-listener: firing takes them all. */
  private fire(event: Event): void {
    const list = this.listeners[event];
    this.listeners[event] = [];
    for (const l of list) l();
  }
}
