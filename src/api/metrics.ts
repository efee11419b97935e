// Prometheus metrics of the client port. The registry is served at /metrics
// over HTTP/1.1; it carries prom-client's default process metrics (etcdctl
// check datascale reads process_resident_memory_bytes) and is handed to the
// caller (ApiServer.metrics) so the backend can register its own.

import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { grpcCodeName } from "./errors.ts";
import { FastHistogram } from "./histogram.ts";

/** gRPC code names as grpc-go prints them (the grpc_code label etcd's dashboards match on). */
const GO_CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

export type Protocol = "grpc" | "gateway";
export type GrpcKind = "unary" | "server_stream" | "bidi_stream";

/** The proto package of each service that is not etcdserverpb's, for the grpc_service label. */
const PACKAGE_OF_SERVICE: Readonly<Record<string, string>> = { Election: "v3electionpb", Lock: "v3lockpb" };

interface MethodCounts {
  readonly kind: GrpcKind;
  /** Calls by gRPC code (0..16) since the last scrape. */
  readonly byCode: number[];
}

/**
 * Completed calls, counted in plain arrays per method and handed to the
 * prom-client counters when /metrics is read: prom-client sorts and hashes
 * a call's label set on every inc(), about a microsecond per counter, which
 * every request paid twice.
 */
export class CallCounts {
  private readonly grpc = new Map<string, MethodCounts>();
  private readonly gateway = new Map<string, MethodCounts>();
  private readonly requests: Counter<"protocol" | "method" | "code">;
  /** grpc_server_handled_total, labelled as go-grpc-prometheus labels it (etcd's). */
  private readonly handled: Counter<"grpc_type" | "grpc_service" | "grpc_method" | "grpc_code">;

  constructor(registry: Registry) {
    // either counter, when read, takes the pending counts of both
    const collect = () => this.flush();
    this.requests = new Counter({
      name: "floe_api_requests_total",
      help: "Client API calls completed, by protocol, method and status code.",
      labelNames: ["protocol", "method", "code"] as const,
      registers: [registry],
      collect,
    });
    this.handled = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"] as const,
      registers: [registry],
      collect,
    });
  }

  /** One call of `method` ("Service.Method") ended with gRPC `code`. */
  add(protocol: Protocol, kind: GrpcKind, method: string, code: number): void {
    const table = protocol === "grpc" ? this.grpc : this.gateway;
    let m = table.get(method);
    if (m === undefined) {
      m = { kind, byCode: new Array<number>(GO_CODE_NAMES.length).fill(0) };
      table.set(method, m);
    }
    if (code >= 0 && code < m.byCode.length) m.byCode[code]++;
  }

  /** Moves the counts into the prom-client counters (at scrape time). */
  flush(): void {
    for (const [protocol, table] of [
      ["grpc", this.grpc],
      ["gateway", this.gateway],
    ] as const) {
      for (const [method, m] of table) {
        for (let code = 0; code < m.byCode.length; code++) {
          const n = m.byCode[code];
          if (n === 0) continue;
          m.byCode[code] = 0;
          this.requests.inc({ protocol, method, code: grpcCodeName(code) }, n);
          if (protocol !== "grpc") continue;
          const dot = method.indexOf(".");
          const service = method.slice(0, dot);
          this.handled.inc(
            {
              grpc_type: m.kind,
              grpc_service: `${PACKAGE_OF_SERVICE[service] ?? "etcdserverpb"}.${service}`,
              grpc_method: method.slice(dot + 1),
              grpc_code: GO_CODE_NAMES[code],
            },
            n,
          );
        }
      }
    }
  }
}

export interface ApiMetrics {
  readonly registry: Registry;
  /** Completed calls (floe_api_requests_total and grpc_server_handled_total, see CallCounts). */
  readonly calls: CallCounts;
  /** Latency of unary calls in seconds. */
  readonly requestSeconds: FastHistogram;
  /** Open client connections, by kind ("h2" | "http1" | "pending"). */
  readonly connections: Gauge<"kind">;
  /** Open streaming calls (watch, keepalive, snapshot). */
  readonly streams: Gauge<"method">;
  /** JSON gateway calls waiting for a free stream (--max-concurrent-streams, see http.ts). */
  readonly gatewayWaiting: Gauge;
  /** Connections closed before they could be served (garbage, timeout, connection limit). */
  readonly rejectedConnections: Counter<"reason">;
}

/** A registry with default metrics, for when the caller supplies none. */
export function defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  return {
    registry,
    calls: new CallCounts(registry),
    requestSeconds: new FastHistogram(
      "floe_api_request_duration_seconds",
      "Latency of unary client API calls.",
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ["protocol", "method"],
      registry,
    ),
    connections: new Gauge({
      name: "floe_api_connections",
      help: "Open client connections by protocol.",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    streams: new Gauge({
      name: "floe_api_open_streams",
      help: "Open streaming calls by method.",
      labelNames: ["method"] as const,
      registers: [registry],
    }),
    gatewayWaiting: new Gauge({
      name: "floe_api_gateway_waiting_calls",
      help: "JSON gateway calls waiting for one of the --max-concurrent-streams slots.",
      registers: [registry],
    }),
    rejectedConnections: new Counter({
      name: "floe_api_rejected_connections_total",
      help: "Client connections closed before being served, by reason.",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
  };
}
