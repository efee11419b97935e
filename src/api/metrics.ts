// Prometheus metrics of the client port. The registry is served at /metrics
// over HTTP/1.1; it carries prom-client's default process metrics (etcdctl
// check datascale reads process_resident_memory_bytes) and is handed to the
// caller (ApiServer.metrics) so the backend can register its own.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ApiMetrics {
  readonly registry: Registry;
  /** Completed calls, by protocol ("grpc" | "gateway"), full method name and status code name. */
  readonly requests: Counter<"protocol" | "method" | "code">;
  /** Latency of unary calls in seconds. */
  readonly requestSeconds: Histogram<"protocol" | "method">;
  /** Open client connections, by kind ("h2" | "http1" | "pending"). */
  readonly connections: Gauge<"kind">;
  /** Open streaming calls (watch, keepalive, snapshot). */
  readonly streams: Gauge<"method">;
  /** JSON gateway calls waiting for a free stream (--max-concurrent-streams, see http.ts). */
  readonly gatewayWaiting: Gauge;
  /** Connections closed before they could be served (garbage, timeout, connection limit). */
  readonly rejectedConnections: Counter<"reason">;
  /** gRPC calls completed, labelled as go-grpc-prometheus labels them (etcd's grpc_server_handled_total). */
  readonly grpcHandled: Counter<"grpc_type" | "grpc_service" | "grpc_method" | "grpc_code">;
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
    requests: new Counter({
      name: "floe_api_requests_total",
      help: "Client API calls completed, by protocol, method and status code.",
      labelNames: ["protocol", "method", "code"] as const,
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: "floe_api_request_duration_seconds",
      help: "Latency of unary client API calls.",
      labelNames: ["protocol", "method"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
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
    grpcHandled: new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"] as const,
      registers: [registry],
    }),
  };
}
