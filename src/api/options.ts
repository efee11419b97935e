// Options and named limits of the client port, with etcd's defaults where
// etcd has one.

import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { EtcdBackend } from "./backend.ts";
import type { UiOptions } from "./ui.ts";

export interface ApiLimits {
  /** Largest request that is proposed through Raft (etcd's --max-request-bytes). */
  maxRequestBytes: number;
  /** Slack on top of maxRequestBytes for the gRPC receive limit (etcd's grpcOverheadBytes). */
  grpcOverheadBytes: number;
  /** Largest message the server sends (etcd: math.MaxInt32). */
  maxSendBytes: number;
  /** Ops per txn branch (etcd's --max-txn-ops). */
  maxTxnOps: number;
  /** Concurrent HTTP/2 streams per connection (etcd's --max-concurrent-streams). */
  maxConcurrentStreams: number;
  /** Live watchers per watch stream; creates beyond it are refused with TOO_MANY_WATCHERS. */
  maxWatchersPerStream: number;
  /** Responses buffered per stream before the producer waits for the client. */
  streamBufferMessages: number;
  /** Largest HTTP/1.1 gateway request body (JSON with base64 bytes is ~4/3 the binary size). */
  maxGatewayBodyBytes: number;
  /** Time a new connection has to send its first bytes (or complete the HTTP/2 preface). */
  firstBytesTimeoutMs: number;
  /** Open client connections per port; further connections are closed at once. */
  maxConnections: number;
}

export const MiB = 1024 * 1024;

export const defaultLimits: Readonly<ApiLimits> = Object.freeze({
  maxRequestBytes: 1.5 * MiB,
  grpcOverheadBytes: 512 * 1024,
  maxSendBytes: 2 ** 31 - 1,
  maxTxnOps: 128,
  maxConcurrentStreams: 1000,
  maxWatchersPerStream: 10_000,
  streamBufferMessages: 64,
  maxGatewayBodyBytes: 4 * MiB,
  firstBytesTimeoutMs: 10_000,
  maxConnections: 10_000,
});

export interface TlsOptions {
  /** PEM certificate chain file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** PEM CA bundle that signs client certificates. */
  trustedCaFile?: string;
  /** Clients must present a certificate signed by trustedCaFile (default: whenever trustedCaFile is set). */
  clientCertAuth?: boolean;
  /** PEM certificate revocation list: client certificates it lists are refused. */
  crlFile?: string;
  /** OpenSSL cipher string (etcd's --cipher-suites, translated by common/ciphers.ts). */
  ciphers?: string;
}

export interface ApiServerOptions {
  backend: EtcdBackend;
  /** Interface to bind; default "127.0.0.1". */
  host?: string;
  /** TCP port; 0 picks a free one (see ApiServer.port). Default 2379. */
  port?: number;
  /** Serve TLS (ALPN h2 and http/1.1) instead of cleartext. */
  tls?: TlsOptions;
  limits?: Partial<ApiLimits>;
  /** Structured logger; default a pino logger named "api". */
  logger?: Logger;
  /**
   * Registry served at /metrics. Default: a fresh registry with prom-client's
   * default process metrics. Register backend metrics on it (see ApiServer.metrics).
   */
  metrics?: Registry;
  /**
   * The etcd version floe reports at /version, in Status and in metrics:
   * default the release whose v3 API surface floe implements (3.4) and
   * whose own end-to-end suite it is checked against.
   */
  etcdVersion?: { server?: string; cluster?: string };
  /** The dashboard under /ui: default the built assets found beside the code (ui.ts, findUiAssets). */
  ui?: UiOptions;
}

export interface EtcdVersions {
  readonly server: string;
  readonly cluster: string;
}

/** The etcd release floe implements: server version (3.4.23) and cluster version (3.4.0). */
export const defaultEtcdVersion = "3.4.23";
export const defaultEtcdClusterVersion = "3.4.0";

export function resolveLimits(partial: Partial<ApiLimits> | undefined): ApiLimits {
  const limits = { ...defaultLimits, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`api limit ${name} must be a positive number, got ${value}`);
    }
  }
  return limits;
}
