// The JSON gateway's routes, derived from the method table (methods.ts, which
// holds etcd's grpc-gateway paths) and, per route, the JSON <-> protobuf
// conversion with protobuf's JSON mapping: base64 bytes, int64 as strings,
// proto field names (snake_case) on output as etcd's gateway prints them.

import { type DescMessage, fromJson, type JsonValue, type MessageShape, toJson } from "@bufbuild/protobuf";
import type { CallContext } from "./backend.ts";
import { invalidRequest } from "./errors.ts";
import type { ApiMethod } from "./methods.ts";

export type GatewayRoute =
  | {
      readonly kind: "unary";
      /** "Service.Method", for metrics and logs. */
      readonly method: string;
      run(json: unknown, ctx: CallContext): Promise<JsonValue>;
    }
  | {
      readonly kind: "stream";
      readonly method: string;
      /** True when the body is a stream of messages (watch, keepalive), false for one message. */
      readonly clientStreams: boolean;
      run(jsonIn: AsyncIterable<unknown>, ctx: CallContext): AsyncIterable<JsonValue>;
    };

function decode<D extends DescMessage>(schema: D, json: unknown): MessageShape<D> {
  try {
    return fromJson(schema, json as JsonValue, { ignoreUnknownFields: true });
  } catch (e) {
    throw invalidRequest(`${schema.typeName}: ${(e as Error).message}`);
  }
}

const encode = <D extends DescMessage>(schema: D, msg: MessageShape<D>): JsonValue =>
  toJson(schema, msg, { useProtoFieldName: true });

async function* decodeAll<D extends DescMessage>(schema: D, jsonIn: AsyncIterable<unknown>) {
  for await (const json of jsonIn) yield decode(schema, json);
}

async function* encodeAll<D extends DescMessage>(schema: D, msgs: AsyncIterable<MessageShape<D>>) {
  for await (const msg of msgs) yield encode(schema, msg);
}

async function firstOf(jsonIn: AsyncIterable<unknown>): Promise<unknown> {
  for await (const json of jsonIn) return json;
  return {};
}

/** The gateway route serving one method of the table. */
function routeOf(m: ApiMethod): GatewayRoute {
  switch (m.kind) {
    case "unary":
      return {
        kind: "unary",
        method: m.name,
        run: async (json, ctx) => encode(m.output, await m.unary(decode(m.input, json), ctx)),
      };
    case "server_streaming":
      return {
        kind: "stream",
        method: m.name,
        clientStreams: false,
        run: (jsonIn, ctx) =>
          (async function* () {
            yield* encodeAll(m.output, m.serverStream(decode(m.input, await firstOf(jsonIn)), ctx));
          })(),
      };
    case "bidi_streaming":
      return {
        kind: "stream",
        method: m.name,
        clientStreams: true,
        run: (jsonIn, ctx) => encodeAll(m.output, m.bidi(decodeAll(m.input, jsonIn), ctx)),
      };
  }
}

/** Methods etcd added in 3.5: its 3.4 gateway has no route for them (gRPC serves them either way). */
const SINCE_3_5: ReadonlySet<string> = new Set(["Auth.AuthStatus", "Maintenance.Downgrade"]);

function atLeast35(version: string): boolean {
  const [major, minor] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 5);
}

/**
 * Every gateway path of the method table, mapped to its route; the paths of
 * the etcd release `serverVersion` claims (a 3.4 gateway has no
 * /v3/auth/status).
 */
export function gatewayRoutes(
  methods: readonly ApiMethod[],
  serverVersion = "3.5.0",
): ReadonlyMap<string, GatewayRoute> {
  const routes = new Map<string, GatewayRoute>();
  for (const m of methods) {
    if (SINCE_3_5.has(m.name) && !atLeast35(serverVersion)) continue;
    const route = routeOf(m);
    for (const path of m.gatewayPaths) {
      routes.set(path, route);
      // etcd 3.4's gateway also answers under its older /v3beta prefix
      routes.set(path.replace(/^\/v3\//, "/v3beta/"), route);
    }
  }
  return routes;
}
