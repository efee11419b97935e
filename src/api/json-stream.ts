// Reading request bodies for the JSON gateway: a whole body with a size cap,
// or a stream of concatenated JSON objects (how grpc-gateway reads the client
// side of a streaming call such as /v3/watch: Go's json.Decoder accepts
// values one after another, separated by optional whitespace).

import { FloeError, invalidRequest } from "./errors.ts";

/** Reads the whole body as UTF-8; more than maxBytes is REQUEST_TOO_LARGE. */
export async function readBody(body: AsyncIterable<Buffer | string>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > maxBytes) throw FloeError.of("REQUEST_TOO_LARGE");
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Parses a unary request body; an empty body is the empty message, as in grpc-gateway. */
/** A run of 16 or more digits: the only integers a JS number may not hold exactly. */
const LONG_DIGITS = /\d{16}/;

/**
 * etcd's JSON clients (Go's encoding/json, curl in etcd's own tests) write
 * int64 fields such as lease ids as bare numbers, which JSON.parse would round
 * to a double. Integers outside the safe range become JSON strings, which
 * protobuf's JSON mapping accepts for 64-bit fields, before parsing.
 */
export function quoteLongIntegers(text: string): string {
  if (!LONG_DIGITS.test(text)) return text;
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
    // a number token: -?digits, maybe a fraction or exponent (those stay numbers)
    let j = c === 0x2d ? i + 1 : i;
    while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++;
    const next = text[j];
    const integer = next !== "." && next !== "e" && next !== "E";
    const token = text.slice(i, j);
    if (integer && j - i >= 16 && !Number.isSafeInteger(Number(token))) {
      out += `${text.slice(from, i)}"${token}"`;
      from = j;
    }
    i = j - 1;
  }
  return out + text.slice(from);
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(quoteLongIntegers(text));
  } catch (e) {
    throw invalidRequest(`malformed JSON body: ${(e as Error).message}`);
  }
}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);

/**
 * Yields each top-level JSON object or array in the body as soon as it is
 * complete. A value still incomplete after maxValueBytes is REQUEST_TOO_LARGE;
 * anything but objects/arrays at the top level is INVALID_REQUEST.
 */
export async function* jsonValues(
  body: AsyncIterable<Buffer | string>,
  maxValueBytes: number,
): AsyncGenerator<unknown> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  // scanner state over `pending`, kept across chunks
  let pos = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;

  const scan = function* (): Generator<unknown> {
    while (pos < pending.length) {
      const ch = pending[pos] as string;
      if (depth === 0) {
        if (WHITESPACE.has(ch)) {
          pending = pending.slice(pos + 1);
          pos = 0;
          continue;
        }
        if (ch !== "{" && ch !== "[")
          throw invalidRequest(`expected a JSON object in the stream, found ${JSON.stringify(ch)}`);
      }
      pos++;
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === "\\") escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "{" || ch === "[") depth++;
      else if (ch === "}" || ch === "]") {
        depth--;
        if (depth === 0) {
          const text = pending.slice(0, pos);
          pending = pending.slice(pos);
          pos = 0;
          yield parseJsonBody(text);
        }
      }
    }
  };

  for await (const chunk of body) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    yield* scan();
    if (Buffer.byteLength(pending) > maxValueBytes) throw FloeError.of("REQUEST_TOO_LARGE");
  }
  pending += decoder.decode();
  yield* scan();
  if (pending.trim() !== "") throw invalidRequest("the request stream ended inside a JSON value");
}
