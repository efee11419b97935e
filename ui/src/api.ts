// The page's client: etcd's JSON gateway on the member that served the page
// (or, through /ui/api/members/<id>/, on another member), with the user's
// token in memory only. Keys and values travel as base64; here they are
// "byte strings" (one char per byte), the form atob and btoa use.

let token: string | undefined;

export function setToken(t: string | undefined): void {
  token = t;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status: number,
  ) {
    super(message);
  }

  /** The member has auth enabled and this call had no (valid) token. */
  get needsLogin(): boolean {
    return /user name is empty|invalid auth token|auth token is expired|user name not found/.test(
      this.message,
    );
  }
}

const headers = (): Record<string, string> => ({
  "content-type": "application/json",
  ...(token !== undefined ? { authorization: token } : {}),
});

const urlOf = (path: string, member?: string) =>
  member === undefined ? path : `/ui/api/members/${member}${path}`;

function errorOf(json: unknown, status: number, text: string): ApiError {
  const j = json as { message?: string; error?: unknown; code?: number } | undefined;
  if (j && typeof j.error === "object" && j.error !== null) {
    const e = j.error as { message?: string; grpc_code?: number };
    return new ApiError(e.message ?? text, e.grpc_code ?? -1, status);
  }
  return new ApiError(
    j?.message ?? (typeof j?.error === "string" ? j.error : text || `HTTP ${status}`),
    j?.code ?? -1,
    status,
  );
}

/** One unary gateway call, e.g. call("/v3/kv/range", {...}). */
export async function call<T>(path: string, body: unknown, member?: string): Promise<T> {
  const res = await fetch(urlOf(path, member), {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(text || res.statusText, -1, res.status);
  }
  if (!res.ok || (json as { error?: unknown }).error !== undefined) throw errorOf(json, res.status, text);
  return json as T;
}

/** A streaming gateway call (watch, snapshot): each line's result, until the stream ends or `signal` aborts. */
export async function* stream<T>(
  path: string,
  body: unknown,
  signal: AbortSignal,
  member?: string,
): AsyncGenerator<T> {
  const res = await fetch(urlOf(path, member), {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok || res.body === null) {
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    throw errorOf(json, res.status, text);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === "") continue;
        const json = JSON.parse(line) as { result?: T; error?: unknown };
        if (json.error !== undefined) throw errorOf(json, res.status, line);
        if (json.result !== undefined) yield json.result;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// ---- bytes ----

export const b64 = (bytes: string): string => btoa(bytes);
export const unb64 = (s: string | undefined): string => (s === undefined ? "" : atob(s));

const utf8 = new TextEncoder();
/** A JavaScript string as a byte string of its UTF-8 encoding. */
export function bytesOf(text: string): string {
  let out = "";
  for (const b of utf8.encode(text)) out += String.fromCharCode(b);
  return out;
}

/** A byte string as UTF-8 text, or undefined when it is not valid UTF-8. */
export function textOf(bytes: string): string | undefined {
  const arr = Uint8Array.from(bytes, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(arr);
  } catch {
    return undefined;
  }
}

/** Shown form of a key: its text, or its bytes as \xNN escapes where it is not UTF-8. */
export function showKey(bytes: string): string {
  return (
    textOf(bytes) ??
    [...bytes]
      .map((c) => (c >= " " && c <= "~" ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`))
      .join("")
  );
}

export function hexDump(bytes: string): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.slice(i, i + 16);
    const hex = [...chunk].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const ascii = [...chunk].map((c) => (c >= " " && c <= "~" ? c : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

/** The smallest key after every key that starts with `prefix` ("\0" for all keys). */
export function prefixEnd(prefix: string): string {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return "\0";
}

// ---- shapes of the gateway's answers (int64 as strings) ----

export interface KeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export interface Header {
  revision?: string;
  member_id?: string;
  raft_term?: string;
}

export interface RangeResponse {
  header?: Header;
  kvs?: KeyValue[];
  more?: boolean;
  count?: string;
}

export interface WatchResponse {
  header?: Header;
  watch_id?: string;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: "PUT" | "DELETE"; kv?: KeyValue }[];
}

export async function login(name: string, password: string): Promise<void> {
  const r = await call<{ token?: string }>("/v3/auth/authenticate", { name, password });
  setToken(r.token);
}
