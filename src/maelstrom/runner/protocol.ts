/**
 * Validation of what nodes print: every stdout line must be one JSON message
 * `{src, dest, body}` whose body has a string `type` and integer `msg_id` /
 * `in_reply_to` when present, and replies to clients must have the shape
 * the lin-kv workload defines. Each check returns a problem to report, in
 * words that name what was wrong and what was seen.
 */
import type { Json, LinKvOutput } from "../../check/index.ts";
import type { Body, Message, OpType } from "./types.ts";

export type Parsed = { message: Message } | { problem: string };

/** Parses one stdout line of `node`. */
export function parseLine(node: string, line: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return {
      problem: `${node} printed a line on stdout that is not JSON (stdout is for messages only; log to stderr)`,
    };
  }
  if (!isObject(value)) return { problem: `${node} printed JSON that is not a message object` };
  const { src, dest, body } = value;
  if (typeof src !== "string" || typeof dest !== "string") {
    return { problem: `${node} sent a message without string "src" and "dest"` };
  }
  if (src !== node) {
    return { problem: `${node} sent a message with "src": ${JSON.stringify(src)}, not its own id` };
  }
  if (!isObject(body)) return { problem: `${node} sent a message without a "body" object` };
  if (typeof body.type !== "string" || body.type === "") {
    return { problem: `${node} sent a message whose body has no string "type"` };
  }
  for (const field of ["msg_id", "in_reply_to"] as const) {
    if (field in body && !Number.isSafeInteger(body[field])) {
      return {
        problem: `${node} sent a message whose body has a non-integer "${field}": ${JSON.stringify(body[field])}`,
      };
    }
  }
  return { message: { src, dest, body: body as Body } };
}

/** Maelstrom's error codes and names (doc/protocol.md). */
export const ERROR_NAMES: Record<number, string> = {
  0: "timeout",
  1: "node-not-found",
  10: "not-supported",
  11: "temporarily-unavailable",
  12: "malformed-request",
  13: "crash",
  14: "abort",
  20: "key-does-not-exist",
  21: "key-already-exists",
  22: "precondition-failed",
  30: "txn-conflict",
};

const OK_TYPES: Record<OpType, string> = { read: "read_ok", write: "write_ok", cas: "cas_ok" };

/**
 * Checks a reply body against the request it answers; returns the problem,
 * or undefined when the body is a well-formed reply.
 */
export function replyProblem(request: OpType | "init", body: Body): string | undefined {
  if (body.type === "error") {
    if (!Number.isSafeInteger(body.code)) return `an error reply without an integer "code"`;
    if ("text" in body && typeof body.text !== "string") return `an error reply whose "text" is not a string`;
    return undefined;
  }
  const expected = request === "init" ? "init_ok" : OK_TYPES[request];
  if (body.type !== expected) {
    return `a ${JSON.stringify(body.type)} reply to a ${request} request (expected ${expected} or error)`;
  }
  if (request === "read" && !("value" in body)) return `a read_ok reply without a "value"`;
  return undefined;
}

/** The reply as the lin-kv model takes it (routing fields dropped). */
export function toLinKvOutput(body: Body): LinKvOutput {
  switch (body.type) {
    case "read_ok":
      return { type: "read_ok", value: body.value as Json };
    case "write_ok":
      return { type: "write_ok" };
    case "cas_ok":
      return { type: "cas_ok" };
    default: {
      const out: LinKvOutput = { type: "error", code: body.code as number };
      if (typeof body.text === "string") out.text = body.text;
      return out;
    }
  }
}

export function describeError(code: number, text: string | undefined): string {
  const name = ERROR_NAMES[code] ?? "custom";
  return `error ${code} ${name}${text ? `: ${text}` : ""}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
