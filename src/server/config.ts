// Server configuration: one table of options (etcd's names where they exist),
// read from defaults, then a YAML file, then FLOE_* environment variables,
// then command-line flags. Every option is validated with a message naming the
// option, the source and the value seen.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { parseJwtSpec } from "../auth/index.ts";
import { opensslCiphers } from "../common/index.ts";

type Kind = "string" | "int" | "bool" | "list";

interface OptionSpec {
  /** Flag and YAML key, etcd style. */
  readonly name: string;
  readonly kind: Kind;
  readonly defaultValue: string | number | boolean | string[];
  readonly description: string;
  /** Lower bound for ints. */
  readonly min?: number;
  readonly choices?: readonly string[];
}

export const OPTIONS = [
  {
    name: "name",
    kind: "string",
    defaultValue: "default",
    description: "human-readable name of this member",
  },
  {
    name: "data-dir",
    kind: "string",
    defaultValue: "",
    description: "data directory (default: <name>.floe)",
  },
  {
    name: "listen-client-urls",
    kind: "list",
    defaultValue: ["http://127.0.0.1:2379"],
    description: "URLs to serve the etcd v3 API (gRPC and HTTP on one port) on",
  },
  {
    name: "advertise-client-urls",
    kind: "list",
    defaultValue: [],
    description: "client URLs told to clients (default: listen URLs)",
  },
  {
    name: "listen-peer-urls",
    kind: "list",
    defaultValue: ["http://127.0.0.1:2380"],
    description: "URLs to listen on for peer traffic",
  },
  {
    name: "initial-advertise-peer-urls",
    kind: "list",
    defaultValue: [],
    description: "peer URLs told to the cluster (default: listen URLs)",
  },
  {
    name: "initial-cluster",
    kind: "string",
    defaultValue: "",
    description: "initial membership, name=peerURL,... (default: <name>=<first advertised peer URL>)",
  },
  {
    name: "initial-cluster-state",
    kind: "string",
    defaultValue: "new",
    choices: ["new", "existing"],
    description: "new or existing cluster",
  },
  {
    name: "initial-cluster-token",
    kind: "string",
    defaultValue: "floe-cluster",
    description: "token mixed into the cluster id",
  },
  {
    name: "cert-file",
    kind: "string",
    defaultValue: "",
    description: "TLS certificate for the client port (PEM)",
  },
  { name: "key-file", kind: "string", defaultValue: "", description: "TLS key for the client port (PEM)" },
  {
    name: "client-cert-auth",
    kind: "bool",
    defaultValue: false,
    description: "clients must present a certificate signed by trusted-ca-file",
  },
  {
    name: "trusted-ca-file",
    kind: "string",
    defaultValue: "",
    description: "CA that signs client certificates (PEM), for client-cert-auth",
  },
  {
    name: "client-crl-file",
    kind: "string",
    defaultValue: "",
    description: "certificate revocation list (PEM): client certificates it lists are refused",
  },
  {
    name: "auto-tls",
    kind: "bool",
    defaultValue: false,
    description:
      "without cert-file: serve clients with a self-signed certificate made at the first start (in <data-dir>/fixtures/client)",
  },
  {
    name: "cipher-suites",
    kind: "string",
    defaultValue: "",
    description:
      "comma-separated TLS 1.2 cipher suites (IANA names, as etcd's) for the client and peer ports; empty: Node's defaults",
  },
  {
    name: "peer-cert-file",
    kind: "string",
    defaultValue: "",
    description: "TLS certificate for the peer port (PEM); enables mutual TLS between members",
  },
  { name: "peer-key-file", kind: "string", defaultValue: "", description: "TLS key for the peer port (PEM)" },
  {
    name: "peer-trusted-ca-file",
    kind: "string",
    defaultValue: "",
    description: "CA that signs every member's peer certificate (PEM)",
  },
  {
    name: "peer-client-cert-auth",
    kind: "bool",
    defaultValue: false,
    description:
      "accepted for etcd compatibility: with peer TLS files floe always checks both members' certificates against peer-trusted-ca-file",
  },
  {
    name: "peer-crl-file",
    kind: "string",
    defaultValue: "",
    description: "certificate revocation list (PEM): peer certificates it lists are refused",
  },
  {
    name: "peer-auto-tls",
    kind: "bool",
    defaultValue: false,
    description:
      "without peer-cert-file: encrypt the peer port with a self-signed certificate (in <data-dir>/fixtures/peer); peers are not verified",
  },
  {
    name: "quota-backend-bytes",
    kind: "int",
    defaultValue: 2 * 1024 * 1024 * 1024,
    min: 0,
    description: "raise the NOSPACE alarm when live data exceeds this many bytes (0: the 2 GiB default)",
  },
  {
    name: "max-request-bytes",
    kind: "int",
    defaultValue: 1.5 * 1024 * 1024,
    min: 1024,
    description: "largest client request accepted",
  },
  {
    name: "max-concurrent-streams",
    kind: "int",
    defaultValue: 1000,
    min: 1,
    description: "most concurrent HTTP/2 streams (gRPC calls) per client connection",
  },
  {
    name: "experimental-initial-corrupt-check",
    kind: "bool",
    defaultValue: false,
    description:
      "before serving, compare the key space hash with the peers' and refuse to start on a mismatch",
  },
  {
    name: "strict-reconfig-check",
    kind: "bool",
    defaultValue: true,
    description:
      "accepted for etcd compatibility: floe always refuses a membership change that would leave too few started members",
  },
  {
    name: "max-txn-ops",
    kind: "int",
    defaultValue: 128,
    min: 1,
    description: "most operations in one transaction",
  },
  {
    name: "snapshot-count",
    kind: "int",
    defaultValue: 100_000,
    min: 1,
    description: "applied entries between Raft snapshots",
  },
  {
    name: "heartbeat-interval",
    kind: "int",
    defaultValue: 100,
    min: 1,
    description: "milliseconds between leader heartbeats (one Raft tick)",
  },
  {
    name: "election-timeout",
    kind: "int",
    defaultValue: 1000,
    min: 2,
    description: "milliseconds without a leader before an election",
  },
  {
    name: "watch-progress-notify-interval",
    kind: "int",
    defaultValue: 600_000,
    min: 10,
    description:
      "milliseconds between progress notifications to idle watchers that asked for them (etcd: 10m)",
  },
  {
    name: "auth-token",
    kind: "string",
    defaultValue: "simple",
    description:
      "auth tokens: simple (random tokens kept by the members) or jwt,pub-key=<file>,priv-key=<file>,sign-method=RS256|ES256|...,ttl=5m",
  },
  {
    name: "auth-token-ttl",
    kind: "int",
    defaultValue: 300,
    min: 1,
    description: "seconds an unused simple auth token stays valid",
  },
  {
    name: "bcrypt-cost",
    kind: "int",
    defaultValue: 10,
    min: 4,
    description: "accepted for etcd compatibility; floe hashes passwords with scrypt at a fixed cost",
  },
  {
    name: "log-level",
    kind: "string",
    defaultValue: "info",
    choices: ["debug", "info", "warn", "error"],
    description: "log level",
  },
] as const satisfies readonly OptionSpec[];

export interface ServerConfig {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: string;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  certFile: string;
  keyFile: string;
  clientCertAuth: boolean;
  trustedCaFile: string;
  clientCrlFile: string;
  peerCertFile: string;
  peerKeyFile: string;
  peerTrustedCaFile: string;
  autoTls: boolean;
  cipherSuites: string;
  peerClientCertAuth: boolean;
  peerCrlFile: string;
  peerAutoTls: boolean;
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  maxConcurrentStreams: number;
  strictReconfigCheck: boolean;
  experimentalInitialCorruptCheck: boolean;
  snapshotCount: number;
  heartbeatInterval: number;
  electionTimeout: number;
  watchProgressNotifyInterval: number;
  authToken: string;
  authTokenTtl: number;
  bcryptCost: number;
  logLevel: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const envName = (s: string): string => `FLOE_${s.toUpperCase().replace(/-/g, "_")}`;

function coerce(spec: OptionSpec, raw: unknown, source: string): string | number | boolean | string[] {
  const bad = (why: string): never => {
    throw new ConfigError(`${source}: option ${spec.name} ${why}, got ${JSON.stringify(raw)}`);
  };
  switch (spec.kind) {
    case "string": {
      if (typeof raw !== "string" && typeof raw !== "number") bad("must be a string");
      const s = String(raw);
      if (spec.choices && !spec.choices.includes(s)) bad(`must be one of ${spec.choices.join(", ")}`);
      return s;
    }
    case "int": {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      if (!Number.isSafeInteger(n)) bad("must be an integer");
      if (spec.min !== undefined && n < spec.min) bad(`must be at least ${spec.min}`);
      return n;
    }
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      return bad("must be true or false");
    case "list": {
      const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(",");
      return items.map((s) => s.trim()).filter((s) => s !== "");
    }
  }
}

/**
 * Resolves the configuration. `flags` holds values given on the command line
 * (keyed by option name), `env` the environment, `file` an optional YAML path.
 */
export function loadConfig(opts: {
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  file?: string;
}): ServerConfig {
  const values = new Map<string, unknown>();
  for (const spec of OPTIONS) values.set(spec.name, spec.defaultValue);
  if (opts.file) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(opts.file, "utf8"));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${opts.file}: ${(e as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== "object" || Array.isArray(doc))
        throw new ConfigError(`config file ${opts.file} must be a YAML mapping`);
      for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
        const spec = OPTIONS.find((o) => o.name === k);
        if (!spec) throw new ConfigError(`config file ${opts.file}: unknown option ${JSON.stringify(k)}`);
        values.set(k, coerce(spec, v, `config file ${opts.file}`));
      }
    }
  }
  for (const spec of OPTIONS) {
    const v = opts.env?.[envName(spec.name)];
    if (v !== undefined) values.set(spec.name, coerce(spec, v, `environment ${envName(spec.name)}`));
  }
  for (const [k, v] of Object.entries(opts.flags ?? {})) {
    if (v === undefined) continue;
    const spec = OPTIONS.find((o) => o.name === k || camel(o.name) === k);
    if (!spec) throw new ConfigError(`unknown flag --${k}`);
    values.set(spec.name, coerce(spec, v, `flag --${spec.name}`));
  }
  const out = Object.fromEntries([...values].map(([k, v]) => [camel(k), v])) as unknown as ServerConfig;
  return finish(out);
}

function finish(c: ServerConfig): ServerConfig {
  if (c.dataDir === "") c.dataDir = `${c.name}.floe`;
  if (c.advertiseClientUrls.length === 0) c.advertiseClientUrls = [...c.listenClientUrls];
  if (c.initialAdvertisePeerUrls.length === 0) c.initialAdvertisePeerUrls = [...c.listenPeerUrls];
  if (c.initialCluster === "") c.initialCluster = `${c.name}=${c.initialAdvertisePeerUrls[0]}`;
  if (c.electionTimeout < 2 * c.heartbeatInterval) {
    throw new ConfigError(
      `election-timeout (${c.electionTimeout} ms) must be at least twice heartbeat-interval (${c.heartbeatInterval} ms)`,
    );
  }
  if ((c.certFile === "") !== (c.keyFile === ""))
    throw new ConfigError("cert-file and key-file must be given together");
  if (
    c.certFile === "" &&
    !c.autoTls &&
    (c.clientCertAuth || c.trustedCaFile !== "" || c.clientCrlFile !== "")
  ) {
    throw new ConfigError(
      "client-cert-auth, trusted-ca-file and client-crl-file need TLS: set cert-file and key-file (or auto-tls)",
    );
  }
  if (c.clientCertAuth && c.trustedCaFile === "")
    throw new ConfigError("client-cert-auth needs trusted-ca-file, the CA that signs client certificates");
  const peerTls = [c.peerCertFile, c.peerKeyFile, c.peerTrustedCaFile].filter((f) => f !== "").length;
  if (peerTls !== 0 && peerTls !== 3)
    throw new ConfigError("peer-cert-file, peer-key-file and peer-trusted-ca-file must be given together");
  if (c.peerCrlFile !== "" && peerTls === 0)
    throw new ConfigError(
      "peer-crl-file needs peer TLS: set peer-cert-file, peer-key-file and peer-trusted-ca-file",
    );
  const tokenKind = c.authToken.split(",")[0];
  if (tokenKind !== "simple" && tokenKind !== "jwt") {
    throw new ConfigError(`auth-token must be simple or jwt,<options>, got ${JSON.stringify(c.authToken)}`);
  }
  if (tokenKind === "jwt") {
    try {
      parseJwtSpec(c.authToken, () => Buffer.alloc(1));
    } catch (e) {
      throw new ConfigError(`auth-token: ${(e as Error).message}`);
    }
  }
  // Refuse a misspelt or unsupported suite now rather than at the first handshake.
  if (c.cipherSuites !== "") {
    try {
      opensslCiphers(c.cipherSuites);
    } catch (e) {
      throw new ConfigError(`cipher-suites: ${(e as Error).message}`);
    }
  }
  for (const u of [...c.listenClientUrls, ...c.listenPeerUrls]) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new ConfigError(`not a URL: ${JSON.stringify(u)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ConfigError(`URL ${u} must use http or https`);
    }
  }
  parseInitialCluster(c.initialCluster);
  return c;
}

/** Parses `name=url,name=url`; a name may appear more than once (several peer URLs). */
export function parseInitialCluster(s: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of s
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0 || eq === part.length - 1)
      throw new ConfigError(`initial-cluster entry must be name=url, got ${JSON.stringify(part)}`);
    const name = part.slice(0, eq);
    const list = out.get(name) ?? [];
    list.push(part.slice(eq + 1));
    out.set(name, list);
  }
  if (out.size === 0) throw new ConfigError("initial-cluster is empty");
  return out;
}

/** Text for `floe start --help`: every option, its default and its environment variable. */
export function describeOptions(): string {
  return OPTIONS.map((o) => {
    const def = Array.isArray(o.defaultValue) ? o.defaultValue.join(",") : String(o.defaultValue);
    return `  --${o.name.padEnd(28)} ${o.description}\n  ${"".padEnd(30)} default: ${def === "" ? "(see text)" : def}; env ${envName(o.name)}`;
  }).join("\n");
}
