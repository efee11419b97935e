// The one registry of errors a client can see. Each entry has a stable code
// name, the gRPC status code and the exact message etcd sends (clients such as
// etcdctl and the Go clientv3 match errors by message text, so the etcd
// messages must not change by a byte). Entries whose message starts with
// "floe:" are floe's own and may carry a detail after the fixed prefix.
//
// This file imports nothing, so any layer (server/, mvcc/) can throw these.

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** One registry entry. */
export interface ErrorDef {
  /** Stable identifier, e.g. "COMPACTED". */
  readonly name: string;
  readonly grpcCode: GrpcCode;
  /** The message sent to clients; for etcd errors, etcd's exact text. */
  readonly message: string;
  /** True for floe's own errors, whose wire message may carry a detail. */
  readonly floeOnly: boolean;
}

const C = GrpcCode;
type Spec = readonly [GrpcCode, string];

// Transcribed from etcd's api/v3rpc/rpctypes/error.go (3.5 / 3.6).
const etcdSpecs = {
  EMPTY_KEY: [C.INVALID_ARGUMENT, "etcdserver: key is not provided"],
  KEY_NOT_FOUND: [C.INVALID_ARGUMENT, "etcdserver: key not found"],
  VALUE_PROVIDED: [C.INVALID_ARGUMENT, "etcdserver: value is provided"],
  LEASE_PROVIDED: [C.INVALID_ARGUMENT, "etcdserver: lease is provided"],
  TTL_ZERO: [C.INVALID_ARGUMENT, "etcdserver: ttl is 0"],
  TOO_MANY_OPS: [C.INVALID_ARGUMENT, "etcdserver: too many operations in txn request"],
  DUPLICATE_KEY: [C.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"],
  COMPACTED: [C.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"],
  FUTURE_REV: [C.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"],
  NO_SPACE: [C.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"],

  LEASE_NOT_FOUND: [C.NOT_FOUND, "etcdserver: requested lease not found"],
  LEASE_EXIST: [C.FAILED_PRECONDITION, "etcdserver: lease already exists"],
  LEASE_TTL_TOO_LARGE: [C.OUT_OF_RANGE, "etcdserver: too large lease TTL"],

  MEMBER_EXIST: [C.FAILED_PRECONDITION, "etcdserver: member ID already exist"],
  PEER_URL_EXIST: [C.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists"],
  MEMBER_NOT_ENOUGH_STARTED: [
    C.FAILED_PRECONDITION,
    "etcdserver: re-configuration failed due to not enough started members",
  ],
  MEMBER_BAD_URLS: [C.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"],
  MEMBER_NOT_FOUND: [C.NOT_FOUND, "etcdserver: member not found"],
  MEMBER_NOT_LEARNER: [C.FAILED_PRECONDITION, "etcdserver: can only promote a learner member"],
  LEARNER_NOT_READY: [
    C.FAILED_PRECONDITION,
    "etcdserver: can only promote a learner member which is in sync with leader",
  ],
  TOO_MANY_LEARNERS: [C.FAILED_PRECONDITION, "etcdserver: too many learner members in cluster"],
  // etcd's server-internal error for a removed member id. It is not in rpctypes:
  // etcd's v3 API reports a removed id as MEMBER_NOT_FOUND, so prefer that on client paths.
  ID_REMOVED: [C.FAILED_PRECONDITION, "etcdserver: ID removed"],

  REQUEST_TOO_LARGE: [C.INVALID_ARGUMENT, "etcdserver: request is too large"],
  TOO_MANY_REQUESTS: [C.RESOURCE_EXHAUSTED, "etcdserver: too many requests"],

  ROOT_USER_NOT_EXIST: [C.FAILED_PRECONDITION, "etcdserver: root user does not exist"],
  ROOT_ROLE_NOT_EXIST: [C.FAILED_PRECONDITION, "etcdserver: root user does not have root role"],
  USER_ALREADY_EXIST: [C.FAILED_PRECONDITION, "etcdserver: user name already exists"],
  USER_EMPTY: [C.INVALID_ARGUMENT, "etcdserver: user name is empty"],
  USER_NOT_FOUND: [C.FAILED_PRECONDITION, "etcdserver: user name not found"],
  ROLE_ALREADY_EXIST: [C.FAILED_PRECONDITION, "etcdserver: role name already exists"],
  ROLE_NOT_FOUND: [C.FAILED_PRECONDITION, "etcdserver: role name not found"],
  ROLE_EMPTY: [C.INVALID_ARGUMENT, "etcdserver: role name is empty"],
  AUTH_FAILED: [C.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password"],
  PERMISSION_DENIED: [C.PERMISSION_DENIED, "etcdserver: permission denied"],
  ROLE_NOT_GRANTED: [C.FAILED_PRECONDITION, "etcdserver: role is not granted to the user"],
  PERMISSION_NOT_GRANTED: [C.FAILED_PRECONDITION, "etcdserver: permission is not granted to the role"],
  AUTH_NOT_ENABLED: [C.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"],
  INVALID_AUTH_TOKEN: [C.UNAUTHENTICATED, "etcdserver: invalid auth token"],
  INVALID_AUTH_MGMT: [C.INVALID_ARGUMENT, "etcdserver: invalid auth management"],
  AUTH_OLD_REVISION: [C.INVALID_ARGUMENT, "etcdserver: revision of auth store is old"],

  NO_LEADER: [C.UNAVAILABLE, "etcdserver: no leader"],
  NOT_LEADER: [C.FAILED_PRECONDITION, "etcdserver: not leader"],
  LEADER_CHANGED: [C.UNAVAILABLE, "etcdserver: leader changed"],
  NOT_CAPABLE: [C.UNAVAILABLE, "etcdserver: not capable"],
  STOPPED: [C.UNAVAILABLE, "etcdserver: server stopped"],
  TIMEOUT: [C.UNAVAILABLE, "etcdserver: request timed out"],
  TIMEOUT_DUE_TO_LEADER_FAIL: [
    C.UNAVAILABLE,
    "etcdserver: request timed out, possibly due to previous leader failure",
  ],
  TIMEOUT_DUE_TO_CONNECTION_LOST: [
    C.UNAVAILABLE,
    "etcdserver: request timed out, possibly due to connection lost",
  ],
  UNHEALTHY: [C.UNAVAILABLE, "etcdserver: unhealthy cluster"],
  CORRUPT: [C.DATA_LOSS, "etcdserver: corrupt cluster"],
  NOT_SUPPORTED_FOR_LEARNER: [C.UNAVAILABLE, "etcdserver: rpc not supported for learner"],
  BAD_LEADER_TRANSFEREE: [C.FAILED_PRECONDITION, "etcdserver: bad leader transferee"],
  LEADER_TRANSFER_TIMEOUT: [C.UNAVAILABLE, "etcdserver: request timed out, leader transfer took too long"],

  CLUSTER_VERSION_UNAVAILABLE: [C.UNAVAILABLE, "etcdserver: cluster version not found during downgrade"],
  WRONG_DOWNGRADE_VERSION_FORMAT: [C.INVALID_ARGUMENT, "etcdserver: wrong downgrade target version format"],
  INVALID_DOWNGRADE_TARGET_VERSION: [C.INVALID_ARGUMENT, "etcdserver: invalid downgrade target version"],
  DOWNGRADE_IN_PROCESS: [C.FAILED_PRECONDITION, "etcdserver: cluster has a downgrade job in progress"],
  NO_INFLIGHT_DOWNGRADE: [C.FAILED_PRECONDITION, "etcdserver: no inflight downgrade job"],

  // etcd's v3election server and clientv3/concurrency (ErrMissingLeaderKey,
  // ErrElectionNotLeader, ErrElectionNoLeader): plain Go errors, which gRPC
  // sends as UNKNOWN
  ELECTION_MISSING_LEADER_KEY: [C.UNKNOWN, '"leader" field must be provided'],
  ELECTION_NOT_LEADER: [C.UNKNOWN, "election: not leader"],
  ELECTION_NO_LEADER: [C.UNKNOWN, "election: no leader"],
} as const satisfies Record<string, Spec>;

// floe's own errors: a fixed prefix, optionally followed by ": <detail>".
const floeSpecs = {
  INVALID_REQUEST: [C.INVALID_ARGUMENT, "floe: invalid request"],
  NOT_SUPPORTED: [C.UNIMPLEMENTED, "floe: not supported"],
  // grpc-go's words for a message over the receive limit, which etcd's clients see
  MESSAGE_TOO_LARGE: [C.RESOURCE_EXHAUSTED, "grpc: received message larger than max"],
  TOO_MANY_WATCHERS: [C.RESOURCE_EXHAUSTED, "floe: too many watchers on this stream"],
  CANCELLED: [C.CANCELLED, "floe: request cancelled"],
  DEADLINE_EXCEEDED: [C.DEADLINE_EXCEEDED, "floe: deadline exceeded"],
  INTERNAL: [C.INTERNAL, "floe: internal error"],
} as const satisfies Record<string, Spec>;

export type ErrorName = keyof typeof etcdSpecs | keyof typeof floeSpecs;

function build(): Record<ErrorName, ErrorDef> {
  const out: Partial<Record<ErrorName, ErrorDef>> = {};
  for (const [name, [grpcCode, message]] of Object.entries(etcdSpecs)) {
    out[name as ErrorName] = Object.freeze({ name, grpcCode, message, floeOnly: false });
  }
  for (const [name, [grpcCode, message]] of Object.entries(floeSpecs)) {
    out[name as ErrorName] = Object.freeze({ name, grpcCode, message, floeOnly: true });
  }
  return Object.freeze(out) as Record<ErrorName, ErrorDef>;
}

/** Every error a client can receive, by name: `Errors.COMPACTED`, `Errors.NO_LEADER`, ... */
export const Errors: Readonly<Record<ErrorName, ErrorDef>> = build();

const byMessage = new Map<string, ErrorDef>(Object.values(Errors).map((d) => [d.message, d]));

/**
 * The registry entry a wire message came from (what etcd's rpctypes.Error
 * does for clients), or undefined. A floe error's detail suffix is ignored.
 */
export function errorFromMessage(message: string): ErrorDef | undefined {
  const exact = byMessage.get(message);
  if (exact !== undefined) return exact;
  const colon = message.indexOf(": ", "floe:".length);
  if (colon >= 0) return byMessage.get(message.slice(0, colon));
  const paren = message.indexOf(" (");
  return paren < 0 ? undefined : byMessage.get(message.slice(0, paren));
}

/**
 * An error with a registry entry: a client-visible outcome (bad request, lost
 * leader, full disk), never a bug. Throw it from the backend; the API maps it
 * to the gRPC status and etcd's message, or to etcd's gateway JSON error.
 */
export class FloeError extends Error {
  readonly def: ErrorDef;
  /** What was wrong and the value seen; sent to clients only for floe's own errors. */
  readonly detail: string | undefined;

  constructor(def: ErrorDef, options: { detail?: string; cause?: unknown } = {}) {
    const detail = options.detail;
    // grpc-go's messages put their detail after a space: "... larger than max (5 vs. 4)"
    const sep = def.message.startsWith("grpc: ") ? " " : ": ";
    super(def.floeOnly && detail !== undefined ? `${def.message}${sep}${detail}` : def.message, {
      cause: options.cause,
    });
    this.name = "FloeError";
    this.def = def;
    this.detail = detail;
  }

  get grpcCode(): GrpcCode {
    return this.def.grpcCode;
  }

  /** Shorthand: `FloeError.of("COMPACTED")`. */
  static of(name: ErrorName, detail?: string): FloeError {
    return new FloeError(Errors[name], detail === undefined ? {} : { detail });
  }
}

export function isFloeError(e: unknown): e is FloeError {
  return e instanceof FloeError;
}

/** A malformed request: INVALID_ARGUMENT with a message that says what was wrong. */
export function invalidRequest(detail: string): FloeError {
  return FloeError.of("INVALID_REQUEST", detail);
}

const httpStatusByGrpcCode: Record<GrpcCode, number> = {
  [C.OK]: 200,
  [C.CANCELLED]: 408,
  [C.UNKNOWN]: 500,
  [C.INVALID_ARGUMENT]: 400,
  [C.DEADLINE_EXCEEDED]: 504,
  [C.NOT_FOUND]: 404,
  [C.ALREADY_EXISTS]: 409,
  [C.PERMISSION_DENIED]: 403,
  [C.RESOURCE_EXHAUSTED]: 429,
  [C.FAILED_PRECONDITION]: 400,
  [C.ABORTED]: 409,
  [C.OUT_OF_RANGE]: 400,
  [C.UNIMPLEMENTED]: 501,
  [C.INTERNAL]: 500,
  [C.UNAVAILABLE]: 503,
  [C.DATA_LOSS]: 500,
  [C.UNAUTHENTICATED]: 401,
};

/** The HTTP status grpc-gateway (and so etcd's gateway) uses for a gRPC code. */
export function httpStatusOf(code: GrpcCode): number {
  return httpStatusByGrpcCode[code];
}

/**
 * An error as etcd's Election and Lock services return it. They are clients of
 * their own member (clientv3 over an in-process connection): an error the
 * member answered reaches them as a client error value, which they return as
 * is, and gRPC sends a value without a gRPC status as UNKNOWN with the same
 * text. So "etcdserver: requested lease not found" from Campaign is UNKNOWN
 * there, not NOT_FOUND.
 */
export function asPlainError(e: FloeError): FloeError {
  if (e.grpcCode === C.UNKNOWN) return e;
  const def: ErrorDef = Object.freeze({
    name: e.def.name,
    grpcCode: C.UNKNOWN,
    message: e.message,
    floeOnly: false,
  });
  return new FloeError(def, { cause: e });
}

/** A plain error with etcd's text and no registry entry of its own (UNKNOWN), e.g. a watch's cancel reason. */
export function plainError(message: string): FloeError {
  return new FloeError(Object.freeze({ name: "PLAIN", grpcCode: C.UNKNOWN, message, floeOnly: false }));
}

const codeNames = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

/** The name of a gRPC code for metric labels, e.g. "OUT_OF_RANGE". */
export const grpcCodeName = (code: number): string => codeNames.get(code) ?? String(code);
